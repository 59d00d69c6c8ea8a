#!/usr/bin/env python3
"""Export torchvision's ImageNet ResNet weights to a safetensors file that
`kdcl train --init` loads (the tutorial's pretrained teacher).

kdcl names ResNet tensors exactly as torchvision does (conv1.weight,
bn1.running_mean, layer1.0.downsample.0.weight, ...) and lays them out the
same way, so this is a plain state_dict dump. torchvision's 1000-class `fc`
is kept: kdcl skips it (its head is fc.0 / fc.2) and says so.

Needs torch, torchvision and safetensors, and a network to fetch the
weights once:
    python3 -m venv .venv && .venv/bin/pip install torch torchvision safetensors
    .venv/bin/python tools/export_torchvision.py --arch resnet50 --out resnet50-imagenet.safetensors
    ./build/kdcl train --model resnet50 --init resnet50-imagenet.safetensors --normalize imagenet ...

--random exports untrained weights (for testing without a network).
Keras' ResNet50 is a v1 ResNet (stride on the first 1x1 conv, conv biases):
its weights do not fit torchvision's v1.5 layout, so use torchvision's.
"""
import argparse

import torch
import torchvision
from safetensors.torch import save_file

WEIGHTS = {"resnet50": "IMAGENET1K_V2", "resnet101": "IMAGENET1K_V2", "resnet152": "IMAGENET1K_V2"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", choices=sorted(WEIGHTS), default="resnet50")
    ap.add_argument("--out", required=True, help="output .safetensors file")
    ap.add_argument("--random", action="store_true", help="untrained weights (no download)")
    a = ap.parse_args()
    model = getattr(torchvision.models, a.arch)(weights=None if a.random else WEIGHTS[a.arch])
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    meta = {"format": "pt", "source": f"torchvision.models.{a.arch}",
            "weights": "random" if a.random else WEIGHTS[a.arch]}
    save_file(state, a.out, metadata=meta)
    n = sum(v.numel() for k, v in state.items() if not k.endswith("num_batches_tracked"))
    print(f"wrote {a.out}: {len(state)} tensors, {n:,} values ({a.arch}, {meta['weights']})")


if __name__ == "__main__":
    main()
