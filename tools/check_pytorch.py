#!/usr/bin/env python3
"""Cross-check kdcl against PyTorch on Fashion-MNIST: a kdcl model file is
loaded into its PyTorch twin (tools/kdcl_torch.py), fed the same test images
preprocessed as kdcl does (grayscale replicated to the model's channels,
F.interpolate(mode='bilinear', align_corners=False, antialias=False), /255,
mean/std from the file), and its logits are compared with the ones
`kdcl predict --data ... --out` writes.

    python3 -m venv .venv && .venv/bin/pip install torch safetensors numpy
    .venv/bin/python tools/check_pytorch.py --model M.safetensors [--limit 1000] [--kdcl build/kdcl]
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kdcl_torch  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--kdcl", default="build/kdcl")
    ap.add_argument("--dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--limit", type=int, default=1000)
    a = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "logits.safetensors")
        subprocess.run([a.kdcl, "predict", "--model", a.model, "--data", f"fashion-mnist:{a.dir}", "--split", "test",
                        "--limit", str(a.limit), "--out", out], check=True, stdout=subprocess.DEVNULL)
        ref = load_file(out)
    model, meta = kdcl_torch.load_kdcl(a.model)
    c, h, w = map(int, meta["kdcl.input"].split("x"))
    pre = json.loads(meta.get("kdcl.preprocess", "{}"))
    raw = np.frombuffer(gzip.open(f"{a.dir}/t10k-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
    x = torch.tensor(raw.reshape(-1, 1, 28, 28)[: a.limit].astype(np.float32))
    x = x.expand(-1, c, -1, -1)
    if (h, w) != (28, 28):
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=False)
    x = x / 255.0
    std = np.array(pre.get("std", [0, 0, 0]), np.float32)[:c]
    if (std > 0).all():
        mean = np.array(pre["mean"], np.float32)[:c]
        x = (x - torch.tensor(mean).view(1, c, 1, 1)) / torch.tensor(std).view(1, c, 1, 1)
    with torch.no_grad():
        logits = model(x).numpy()
    k = ref["logits"]
    diff = np.abs(logits - k).max()
    scale = np.abs(logits).max()
    agree = (logits.argmax(1) == k.argmax(1)).mean()
    print(f"{a.model} ({meta['kdcl.spec']}, {c}x{h}x{w}): {len(k)} test images, max |logit difference| {diff:.3g} "
          f"(logits up to {scale:.3g}), top-1 agreement {100 * agree:.2f}%")
    ok = diff <= 1e-3 * max(1.0, scale) and agree >= 0.999
    print("OK: kdcl and PyTorch compute the same function" if ok else "MISMATCH")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
