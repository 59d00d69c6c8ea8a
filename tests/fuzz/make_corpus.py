#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/<target>/: small valid
inputs for each fuzz target (and a few near-misses), so that libFuzzer
starts from the formats' real structure. Deterministic; rerun after a
format change. Model files written by kdcl itself (corpus/model_file/kdcl-*)
are made by tools/fuzz.sh --seed-models, not here."""
import json, os, struct, sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def st(tensors, meta=None, pad=True):
    """tensors: list of (name, dtype, shape, bytes)."""
    hdr, off, blob = {}, 0, b""
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dt, shape, raw in tensors:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blob += raw
    j = json.dumps(hdr, separators=(",", ":")).encode()
    if pad:
        j += b" " * (-len(j) % 8)
    return struct.pack("<Q", len(j)) + j + blob


f32 = lambda *v: struct.pack("<%df" % len(v), *v)
put("safetensors", "f32_2x3", st([("w", "F32", [2, 3], f32(1, -2, 3.5, 0, 1e-3, -1e30))]))
put("safetensors", "all_dtypes", st([
    ("a", "F32", [2], f32(1, 2)),
    ("b", "F16", [3], struct.pack("<3H", 0x3C00, 0x7C00, 0x0001)),
    ("c", "BF16", [2], struct.pack("<2H", 0x3F80, 0xFF80)),
    ("d", "I32", [2], struct.pack("<2i", -7, 2**31 - 1)),
    ("e", "I64", [1, 1], struct.pack("<q", -(2**62))),
    ("f", "U8", [4], bytes([0, 1, 254, 255])),
]))
put("safetensors", "meta_scalar_empty", st(
    [("scalar", "F32", [], f32(3.0)), ("empty", "F32", [0, 5], b""), ("layer1.0.conv1.weight", "F32", [1, 1, 1, 1], f32(0.5))],
    meta={"format": "pt", "kdcl.spec": "resnet14", "k": "v\u00e9"}))
# Hand-made: an unpadded header with spaces inside, data at an odd offset
# after a gap, and trailing bytes nobody owns (all accepted, as by Python).
_h = b'{"x":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}    }'
put("safetensors", "unpadded_gap_trailing", struct.pack("<Q", len(_h)) + _h + bytes(range(8)))
put("safetensors", "header_only", st([]))

# A model file as kdcl writes it (metadata + tensors), for a tiny layer model.
def model_file(spec, inp, classes, params):
    meta = {"format": "pt", "kdcl.version": "0.1.0", "kdcl.spec": spec, "kdcl.input": inp,
            "kdcl.classes": str(classes), "kdcl.class_names": json.dumps(["c%d" % i for i in range(classes)]),
            "kdcl.preprocess": json.dumps({"dataset": "synthetic", "source_channels": 1, "mean": [0, 0, 0],
                                           "std": [0, 0, 0]})}
    ts = []
    for name, shape in params:
        n = 1
        for s in shape:
            n *= s
        ts.append((name, "F32", shape, f32(*[0.01 * (i % 7) for i in range(n)])))
    return st(ts, meta)

m1 = model_file("conv2x3,relu,gap", "1x6x6", 3,
                [("0.weight", [2, 1, 3, 3]), ("0.bias", [2]), ("3.weight", [3, 2]), ("3.bias", [3])])
m2 = model_file("conv2x3p1,bn,relu,maxpool2,flatten,dense4", "1x4x4", 2,
                [("0.weight", [2, 1, 3, 3]), ("1.weight", [2]), ("1.bias", [2]), ("1.running_mean", [2]),
                 ("1.running_var", [2]), ("5.weight", [4, 8]), ("5.bias", [4]), ("6.weight", [2, 4]), ("6.bias", [2])])
m3 = model_file("resnet14:width=0.0625,stem=small", "3x8x8", 10, [("conv1.weight", [4, 3, 3, 3])])
for name, data in (("layers_gap", m1), ("layers_bn_dense", m2), ("resnet_partial", m3)):
    put("model_file", name, data)
    put("safetensors", "model_" + name, data)

# IDX: a tiny image file, a label file, and the first two real images of
# Fashion-MNIST when the Debian package is installed.
put("idx", "images_3x4x5", struct.pack(">IIII", 0x803, 3, 4, 5) + bytes(range(60)))
put("idx", "labels_7", struct.pack(">II", 0x801, 7) + bytes([0, 1, 2, 3, 9, 8, 7]))
put("idx", "images_1x1x1", struct.pack(">IIII", 0x803, 1, 1, 1) + b"\x80")
try:
    import gzip
    base = "/usr/share/datasets/fashion-mnist"
    with gzip.open(os.path.join(base, "t10k-images-idx3-ubyte.gz")) as f:
        raw = f.read(16 + 2 * 784)
    put("idx", "fashion_2_images", struct.pack(">IIII", 0x803, 2, 28, 28) + raw[16:])
    with gzip.open(os.path.join(base, "t10k-labels-idx1-ubyte.gz")) as f:
        raw = f.read(8 + 16)
    put("idx", "fashion_16_labels", struct.pack(">II", 0x801, 16) + raw[8:])
except OSError as e:
    print("no Fashion-MNIST seeds:", e, file=sys.stderr)

# CIFAR-10: one and two records, channel-planar pixels.
rec = lambda label, seed: bytes([label]) + bytes((seed * 31 + i * 7) % 256 for i in range(3072))
put("cifar", "one_record", rec(3, 1))
put("cifar", "two_records", rec(0, 2) + rec(9, 3))

# Model specs: a mode byte (bit 0: raw 32-bit shape; bit 1: square), the
# shape, then the spec string.
def spec(s, c=3, h=32, w=32, classes=10, square=False):
    mode = 2 if square else 0
    hdr = bytes([mode, c]) + struct.pack("<H", h) + (b"" if square else struct.pack("<H", w)) + struct.pack("<H", classes)
    return hdr + s.encode()

specs = {
    "resnet50": spec("resnet50", 3, 224, 224, 1000),
    "resnet14_small": spec("resnet14:width=0.25,stem=small", 1, 28, 28, 10),
    "resnet26_opts": spec("resnet26:width=0.5,stem=imagenet", 3, 64, 64, 10),
    "resnet101": spec("resnet101:stem=auto", 3, 32, 32, 100, square=True),
    "seed_cnn": spec("seed-cnn", 1, 36, 36, 10),
    "refuse_seed_cnn_too_small": spec("seed-cnn", 1, 28, 28, 10),
    "help_example": spec("conv32x3p1,bn,relu,maxpool2,conv64x3p1,bn,relu,gap,dense64,relu", 3, 32, 32, 10),
    "all_layers": spec("conv8x5s2p2,batchnorm,relu,avgpool3s1p1,maxpool2s2p1,dropout0.25,conv4x1,global-avg-pool,"
                       "flatten,dense16,relu,dropout", 2, 17, 23, 7),
    "flatten_dense": spec("conv3x3,flatten,dense5", 1, 5, 9, 2),
    "raw_shape": bytes([1]) + struct.pack("<iiii", 3, 40000, 7, 10) + b"conv2x3,gap",
    "refuse_raw_huge": bytes([1]) + struct.pack("<iiii", 3, 1 << 20, 7, 10) + b"conv2x3,gap",
    "refuse_raw_negative": bytes([1]) + struct.pack("<iiii", -3, 7, 7, 10) + b"conv2x3,gap",
}
for name, data in specs.items():
    put("model_spec", name, data)

# Device lists: count, then per device a type/platform byte, 4 bytes of
# memory and three strings (platform name, vendor, device name); then a
# presence mask and the four query strings (platform, device, type, env).
def dev(t, plat, pname, pvendor, name):
    return bytes([t | plat << 4]) + struct.pack("<I", 1 << 22) + pname + b"\0" + pvendor + b"\0" + name + b"\0"

devs = (dev(0, 0, b"Portable Computing Language", b"The pocl project", b"cpu-haswell-AMD EPYC 7B13") +
        dev(1, 1, b"NVIDIA CUDA", b"NVIDIA Corporation", b"NVIDIA H100 80GB HBM3") +
        dev(1, 1, b"NVIDIA CUDA", b"NVIDIA Corporation", b"NVIDIA A100-SXM4-40GB") +
        dev(2, 2, b"Intel(R) FPGA Emulation Platform", b"Intel(R) Corporation", b"Intel FPGA Emulation Device"))
def query(mask, p=b"", d=b"", t=b"", e=b""):
    return bytes([mask]) + p + b"\0" + d + b"\0" + t + b"\0" + e
put("device_select", "default", bytes([4]) + devs + query(0))
put("device_select", "platform_device_index", bytes([4]) + devs + query(3, b"1", b"1"))
put("device_select", "substrings", bytes([4]) + devs + query(3 | 0x50, b"nvidia", b"a100"))
put("device_select", "type_cpu", bytes([4]) + devs + query(4, t=b"cpu"))
put("device_select", "refuse_type_bad", bytes([4]) + devs + query(4, t=b"fpga"))
put("device_select", "env_pd", bytes([4]) + devs + query(8 | 0xf0, e=b"1:0"))
put("device_select", "env_name", bytes([4]) + devs + query(8, e=b"h100"))
put("device_select", "refuse_no_match", bytes([4]) + devs + query(2, d=b"radeon"))
put("device_select", "refuse_empty_list", bytes([0]) + query(1, p=b"0"))

# gzip: IDX files compressed (a whole one, one cut short) and a plain one.
import gzip as _gz
idx_images = struct.pack(">IIII", 0x803, 3, 4, 5) + bytes(range(60))
z = _gz.compress(idx_images, mtime=0)
put("gzip", "idx_images.gz", z)
put("gzip", "refuse_truncated.gz", z[:-9])
put("gzip", "plain_idx", idx_images)
put("gzip", "two_members.gz", _gz.compress(idx_images[:20], mtime=0) + _gz.compress(idx_images[20:], mtime=0))

# Images for predict: PNG in every colour type and depth libpng handles
# differently, JPEG baseline/progressive, gray/RGB. Needs Pillow (the
# torch venv has it); skipped without.
try:
    import io
    from PIL import Image
    def save(name, im, fmt, **kw):
        b = io.BytesIO()
        im.save(b, fmt, **kw)
        put("image", name, b.getvalue())
    rgb = Image.new("RGB", (7, 5))
    rgb.putdata([((i * 37) % 256, (i * 11) % 256, (i * 5) % 256) for i in range(35)])
    save("rgb.png", rgb, "PNG")
    save("gray.png", rgb.convert("L"), "PNG")
    save("rgba.png", rgb.convert("RGBA"), "PNG")
    save("la.png", rgb.convert("LA"), "PNG")
    save("palette.png", rgb.convert("P"), "PNG")
    save("bits1.png", rgb.convert("1"), "PNG")
    save("gray16.png", rgb.convert("I;16"), "PNG")
    save("rgb.jpg", rgb, "JPEG", quality=80)
    save("gray.jpg", rgb.convert("L"), "JPEG", quality=80)
    save("progressive.jpg", rgb, "JPEG", quality=60, progressive=True)
    save("subsampled.jpg", Image.new("RGB", (17, 9), (200, 30, 90)), "JPEG", subsampling=2)
except ImportError:
    print("no Pillow: image seeds not written", file=sys.stderr)

# Command lines of kdcl train: NUL-separated words.
def argv(*words):
    return b"\0".join(w.encode() for w in words)

put("cli_args", "typical", argv("--model", "seed-cnn", "--data", "fashion-mnist", "--resize", "36", "--out",
                                "s.safetensors", "--epochs", "3", "--lr", "1e-3", "--augment", "crop,flip"))
put("cli_args", "equals_forms", argv("--model=resnet14:width=0.25", "--data=synthetic:500:1x28x28",
                                     "--out=t.safetensors", "--optimizer=sgd", "--nesterov", "--momentum=0.9",
                                     "--schedule=cosine", "--warmup=0.5", "--platform", "0", "--device-type", "cpu"))
put("cli_args", "everything", argv("--data", "cifar10:/data/cifar", "--out", "x/y.safetensors", "--batch", "128",
                                   "--weight-decay", "5e-4", "--adamw", "--lr-step", "2", "--lr-gamma", "0.5",
                                   "--seed", "7", "--channels", "3", "--normalize", "imagenet", "--val-split", "0.2",
                                   "--limit", "1000", "--resume", "y.ckpt.safetensors", "--checkpoint-every", "50",
                                   "--stop-after", "10", "--log", "m.jsonl", "--log-every", "5", "--no-test",
                                   "--profile", "--quiet"))
put("cli_args", "refuse_unknown", argv("--epoch", "3"))
put("cli_args", "refuse_range", argv("--batch", "0"))
put("cli_args", "refuse_twice", argv("--lr", "1", "--lr", "2"))
