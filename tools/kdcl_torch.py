"""PyTorch twins of kdcl's models, with the same tensor names and layouts.

A kdcl .safetensors file loads into the module from `build(spec, c, h, w, classes)`
with load_state_dict(strict=False) and computes the same function, and the
other way round. Used by tools/check_pytorch.py and tools/bench_pytorch.py.

Specs follow kdcl (see `kdcl summary --help`): resnet14/26/38/50/101/152 with
`:width=W,stem=imagenet|small|auto`, `seed-cnn`, or a layer string such as
`conv16x3p1,bn,relu,maxpool2,gap,dense64,relu`.
"""
import re

import torch
from torch import nn

SEED_CNN = ("conv16x3,relu,maxpool3,conv32x3,relu,maxpool3,conv64x3,relu,"
            "flatten,dense128,relu,dropout0.5")
PRESETS = {"resnet14": [1, 1, 1, 1], "resnet26": [2, 2, 2, 2], "resnet38": [3, 3, 3, 3],
           "resnet50": [3, 4, 6, 3], "resnet101": [3, 4, 23, 3], "resnet152": [3, 8, 36, 3]}


class Bottleneck(nn.Module):
    """torchvision's v1.5 bottleneck: the stride sits on the 3x3 conv."""

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + idt)


class ResNet(nn.Module):
    def __init__(self, blocks, width, small_stem, in_c, classes):
        super().__init__()
        sc = lambda b: max(1, int(round(b * width)))  # noqa: E731 (kdcl rounds the same way)
        stem = sc(64)
        if small_stem:
            self.conv1 = nn.Conv2d(in_c, stem, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(in_c, stem, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        inpl = stem
        for s, (n, base) in enumerate(zip(blocks, [64, 128, 256, 512])):
            layers = []
            for b in range(n):
                layers.append(Bottleneck(inpl, sc(base), 2 if (s > 0 and b == 0) else 1))
                inpl = sc(base) * 4
            setattr(self, f"layer{s + 1}", nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(inpl, 256), nn.ReLU(inplace=True), nn.Linear(256, classes))

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _layers(spec, in_c, h, w, classes):
    toks = (SEED_CNN if spec == "seed-cnn" else spec).split(",")
    mods, c, flat = [], in_c, None
    for i, t in enumerate(toks):
        if m := re.fullmatch(r"conv(\d+)x(\d+)((?:[sp]\d+)*)", t):
            cout, k = int(m[1]), int(m[2])
            s = int((re.search(r"s(\d+)", m[3]) or [0, 1])[1])
            p = int((re.search(r"p(\d+)", m[3]) or [0, 0])[1])
            nxt_bn = i + 1 < len(toks) and toks[i + 1] in ("bn", "batchnorm")
            mods.append(nn.Conv2d(c, cout, k, s, p, bias=not nxt_bn))
            c, h, w = cout, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        elif m := re.fullmatch(r"(max|avg)pool(\d+)((?:[sp]\d+)*)", t):
            k = int(m[2])
            s = int((re.search(r"s(\d+)", m[3]) or [0, k])[1])
            p = int((re.search(r"p(\d+)", m[3]) or [0, 0])[1])
            mods.append((nn.MaxPool2d if m[1] == "max" else nn.AvgPool2d)(k, s, p))
            h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        elif t in ("bn", "batchnorm"):
            mods.append(nn.BatchNorm2d(c) if flat is None else nn.BatchNorm1d(c))
        elif t == "relu":
            mods.append(nn.ReLU())
        elif t == "flatten":
            mods.append(nn.Flatten())
            c, flat = c * h * w, True
            h = w = 1
        elif t in ("gap", "global-avg-pool"):
            mods.append(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))
            h = w = 1
            flat = True
        elif m := re.fullmatch(r"dropout([0-9.]*)", t):
            mods.append(nn.Dropout(float(m[1]) if m[1] else 0.5))
        elif m := re.fullmatch(r"dense(\d+)", t):
            mods.append(nn.Linear(c, int(m[1])))
            c = int(m[1])
        else:
            raise ValueError(f"layer {i + 1} '{t}' is not understood")
    if flat is None:
        mods.append(nn.Flatten())
        c, h, w = c * h * w, 1, 1
    mods.append(nn.Linear(c, classes))
    return nn.Sequential(*mods)


def build(spec, in_c, h, w, classes):
    name, _, opts = spec.partition(":")
    if name in PRESETS:
        o = dict(kv.split("=") for kv in opts.split(",") if kv)
        stem = o.get("stem", "auto")
        small = stem == "small" or (stem == "auto" and h < 64 and w < 64)
        return ResNet(PRESETS[name], float(o.get("width", 1)), small, in_c, classes)
    return _layers(spec, in_c, h, w, classes)


def load_kdcl(path):
    """A kdcl model file as (PyTorch module in eval mode, metadata dict)."""
    from safetensors import safe_open
    with safe_open(path, "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    c, h, w = map(int, meta["kdcl.input"].split("x"))
    model = build(meta["kdcl.spec"], c, h, w, int(meta["kdcl.classes"]))
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"{path}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return model.eval(), meta
