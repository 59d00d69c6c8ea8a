"""Helper of tests/cli_onnx_export.sh (run with the project venv's python,
which has onnxruntime; onnx and numpy come from Debian).

  onnx_compare.py data-gray DIR H W NTRAIN NTEST   Fashion-MNIST-style gzipped IDX files of random images
  onnx_compare.py data-cifar DIR NTRAIN NTEST       CIFAR-10 binary batches of random images
  onnx_compare.py compare M.onnx LOGITS.safetensors DIR gray|cifar BATCH [--fixed] [--softmax] [--spec S]

compare: onnx.checker (full check) passes; ONNX Runtime's logits on DIR's
test images, fed BATCH at a time, are within 1e-4 absolute of the logits
kdcl predict wrote; with --softmax the second output is their softmax; the
metadata carry the spec. Prints what it measured; exits 1 on any failure.
"""
import gzip
import json
import os
import struct
import sys

import numpy as np

TOL = 1e-4


def write_idx(path, arr, magic):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">I", magic))
        for d in arr.shape:
            f.write(struct.pack(">I", d))
        f.write(arr.astype(np.uint8).tobytes())


def data_gray(d, h, w, ntrain, ntest):
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(7)
    for split, n in (("train", ntrain), ("t10k", ntest)):
        write_idx(f"{d}/{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, h, w)), 0x803)
        write_idx(f"{d}/{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, (n,)), 0x801)


def data_cifar(d, ntrain, ntest):
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(8)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for i, name in enumerate(names):
        n = ntest if i == 5 else ntrain // 5
        rec = np.concatenate([rng.integers(0, 10, (n, 1)), rng.integers(0, 256, (n, 3072))], axis=1)
        rec.astype(np.uint8).tofile(f"{d}/{name}")


def test_images(d, kind):
    if kind == "gray":
        raw = gzip.open(f"{d}/t10k-images-idx3-ubyte.gz").read()
        n, h, w = struct.unpack(">III", raw[4:16])
        x = np.frombuffer(raw, np.uint8, offset=16).reshape(n, 1, h, w)
    else:
        rec = np.fromfile(f"{d}/test_batch.bin", np.uint8).reshape(-1, 3073)
        x = rec[:, 1:].reshape(-1, 3, 32, 32)
    # kdcl's input pipeline: v * (1/255) in float32 (cl/image.cl).
    return x.astype(np.float32) * np.float32(1.0 / 255.0)


def read_logits(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8 : 8 + n])
    t = h["logits"]
    o = t["data_offsets"]
    return np.frombuffer(b[8 + n + o[0] : 8 + n + o[1]], np.float32).reshape(t["shape"])


def compare(args):
    import onnx
    import onnxruntime as ort

    path, logits_path, d, kind, batch = args[:5]
    batch = int(batch)
    fixed, softmax = "--fixed" in args, "--softmax" in args
    spec = args[args.index("--spec") + 1] if "--spec" in args else None
    ok = True

    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    meta = {p.key: p.value for p in model.metadata_props}
    if spec is not None and meta.get("kdcl.spec") != spec:
        print(f"FAIL: kdcl.spec is {meta.get('kdcl.spec')!r}, expected {spec!r}")
        ok = False
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    want_batch = batch if fixed else "N"
    if dims[0] != want_batch:
        print(f"FAIL: input batch dimension {dims[0]!r}, expected {want_batch!r}")
        ok = False

    ref = read_logits(logits_path)
    x = test_images(d, kind)[: len(ref)]  # kdcl predict --limit: the first images
    if len(x) != len(ref) or len(x) % batch:
        print(f"FAIL: {len(x)} images, {len(ref)} logits rows, batch {batch}: the test's data do not fit")
        return False
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = ["logits", "probabilities"] if softmax else ["logits"]
    outs = [sess.run(names, {"input": x[i : i + batch]}) for i in range(0, len(x), batch)]
    got = np.concatenate([o[0] for o in outs])
    err = float(np.abs(got - ref).max())
    scale = float(np.abs(ref).max())
    print(f"{os.path.basename(path)}: batch {batch}{' (fixed)' if fixed else ''}, {len(x)} images, "
          f"max |ORT - kdcl| = {err:.3g} (logits up to {scale:.3g})")
    # Absolute, as the issue asks, and relative, so that small logits cannot hide a wrong graph.
    if not (err <= TOL and err <= TOL * scale):
        print(f"FAIL: logits differ by {err}: more than {TOL} absolute or {TOL} of their magnitude {scale}")
        ok = False
    if softmax:
        prob = np.concatenate([o[1] for o in outs])
        e = np.exp(ref - ref.max(axis=1, keepdims=True))
        perr = float(np.abs(prob - e / e.sum(axis=1, keepdims=True)).max())
        print(f"  probabilities: max |ORT - softmax(kdcl)| = {perr:.3g}")
        if not perr <= 1e-5:
            print("FAIL: probabilities are not the softmax of the logits")
            ok = False
    return ok


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "data-gray":
        data_gray(args[0], *map(int, args[1:5]))
    elif cmd == "data-cifar":
        data_cifar(args[0], *map(int, args[1:3]))
    elif cmd == "compare":
        sys.exit(0 if compare(args) else 1)
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
