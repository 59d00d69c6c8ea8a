#!/usr/bin/env python3
"""ONNX Runtime's inference images/s on Fashion-MNIST's 10,000 test images,
to put beside `kdcl eval` (docs/benchmarks.md).

usage: build/venv/bin/python tools/onnx_bench.py M.onnx [BATCH...]

The images are scaled to [0, 1] as the export's input rule says; a model
whose input is larger than 28x28 gets a zero border instead of kdcl's
bilinear resize (the same shape and work, for timing only). Prints one line
per batch size: ORT version, provider, threads, images, images/s."""
import gzip
import sys
import time

import numpy as np
import onnxruntime as ort

DATA = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


def main():
    path, batches = sys.argv[1], [int(b) for b in sys.argv[2:]] or [1, 32, 256]
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    shape = s.get_inputs()[0].shape  # [N, C, H, W]
    c, h = shape[1], shape[2]
    x = np.frombuffer(gzip.open(DATA).read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    x = x.astype(np.float32) / 255
    if h > 28:
        p = (h - 28) // 2
        x = np.pad(x, ((0, 0), (0, 0), (p, h - 28 - p), (p, h - 28 - p)))
    x = np.ascontiguousarray(np.repeat(x, c, axis=1) if c == 3 else x)
    for b in batches:
        s.run(["logits"], {"input": x[:b]})  # warm-up
        n = len(x) // b * b
        t = time.perf_counter()
        for i in range(0, n, b):
            s.run(["logits"], {"input": x[i : i + b]})
        dt = time.perf_counter() - t
        threads = s.get_session_options().intra_op_num_threads or "default"
        print(f"{path}: ONNX Runtime {ort.__version__} CPUExecutionProvider, threads {threads}, "
              f"batch {b}, {n} images: {n / dt:.0f} images/s")


if __name__ == "__main__":
    main()
