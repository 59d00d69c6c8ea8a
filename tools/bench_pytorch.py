#!/usr/bin/env python3
"""The models of `kdcl bench` in PyTorch on the CPU, printing the same JSON
lines (train_step: forward + cross-entropy + backward + Adam on random data;
inference: the forward pass in eval mode; medians of --repeat runs after
--warmup), so the two can be put side by side (docs/benchmarks.md).

Set up once (PyPI; the CPU is all it uses):
    python3 -m venv .venv && .venv/bin/pip install torch safetensors numpy
    .venv/bin/python tools/bench_pytorch.py --teacher resnet14:width=0.25 --input 1x28x28
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kdcl_torch  # noqa: E402


def timed(fn, warmup, repeat):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000.0)
    return statistics.median(times), min(times)


def bench(role, spec, shape, classes, batch, warmup, repeat, device):
    c, h, w = shape
    model = kdcl_torch.build(spec, c, h, w, classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    x = torch.rand(batch, c, h, w)
    y = torch.randint(0, classes, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    def infer():
        with torch.no_grad():
            model(x)

    model.train()
    ms, ms_min = timed(step, warmup, repeat)
    base = {"device": device, "model": role, "spec": spec, "batch": batch, "input": "x".join(map(str, shape))}
    print(json.dumps({"bench": "train_step", **base, "ms": round(ms, 3), "ms_min": round(ms_min, 3),
                      "images_per_s": round(batch * 1000.0 / ms, 1)}), flush=True)
    model.eval()
    ms, ms_min = timed(infer, warmup, repeat)
    print(json.dumps({"bench": "inference", **base, "ms": round(ms, 3), "ms_min": round(ms_min, 3),
                      "images_per_s": round(batch * 1000.0 / ms, 1)}), flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--teacher", default="resnet14:width=0.25")
    ap.add_argument("--student", default="seed-cnn")
    ap.add_argument("--input", default="1x28x28", help="CxHxW of the teacher's input")
    ap.add_argument("--student-input", default=None, help="CxHxW of the student's input (default: --input)")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="torch.set_num_threads (default: all cores)")
    ap.add_argument("--what", default="teacher,student")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    device = f"PyTorch {torch.__version__} CPU, {a.threads} threads ({platform.processor() or platform.machine()})"
    parse = lambda s: tuple(int(v) for v in s.split("x"))  # noqa: E731
    if "teacher" in a.what:
        bench("teacher", a.teacher, parse(a.input), a.classes, a.batch, a.warmup, a.repeat, device)
    if "student" in a.what:
        bench("student", a.student, parse(a.student_input or a.input), a.classes, a.batch, a.warmup, a.repeat, device)


if __name__ == "__main__":
    main()
