#!/usr/bin/python3
"""Learning curves from kdcl's --log metrics (JSON lines) as a PNG or SVG.

usage: tools/plot_metrics.py [--out curves.png] [--title T] [LABEL=]RUN.jsonl ...

Each file may hold several runs ("run": "train", "distilled", "alone" --
distill --baseline writes both of its runs into one file); each run is one
curve, named LABEL plus the run's label (the run's label alone when the file
has no LABEL). Curves of the same name from several files -- the seeds of
one experiment, given with the same LABEL or none -- are drawn as their
mean with a band of one standard deviation. Four panels per epoch: training cross-entropy (for a
distilled run its hard-label part, so that it compares with the others),
validation cross-entropy, training accuracy and validation accuracy. A
run's test accuracy, when the log has it, goes into its legend entry.

Needs matplotlib (Debian: python3-matplotlib).
"""
import argparse
import json
import os
import sys


def read_runs(path, label):
    """{curve name: {"epoch": [...], key: [...], "test": acc or None}} of one file."""
    runs = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                o = json.loads(line)
            except json.JSONDecodeError as e:
                sys.exit(f"plot_metrics: {path}:{n}: not JSON ({e})")
            run = o.get("run", "train")
            name = f"{label} {run}" if label else run
            r = runs.setdefault(name, {"epoch": [], "train_ce": [], "val_loss": [], "train_acc": [],
                                       "val_acc": [], "test": None})
            if o.get("event") == "test":
                r["test"] = o.get("test_acc")
            elif o.get("event") == "epoch":
                r["epoch"].append(o["epoch"])
                r["train_ce"].append(o.get("train_hard", o.get("train_loss")))
                r["val_loss"].append(o.get("val_loss"))
                r["train_acc"].append(o.get("train_acc"))
                r["val_acc"].append(o.get("val_acc"))
    return {k: v for k, v in runs.items() if v["epoch"]}


def mean_std(series):
    """Per-epoch mean and std over the series that reach that epoch."""
    n = max(len(s) for s in series)
    mean, std = [], []
    for i in range(n):
        vals = [s[i] for s in series if i < len(s) and s[i] is not None]
        if not vals:
            mean.append(float("nan"))
            std.append(0.0)
            continue
        m = sum(vals) / len(vals)
        mean.append(m)
        std.append((sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) ** 0.5 if len(vals) > 1 else 0.0)
    return mean, std


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("logs", nargs="+", metavar="[LABEL=]RUN.jsonl")
    ap.add_argument("--out", default="curves.png", help="output file; .png or .svg (default: curves.png)")
    ap.add_argument("--title", default=None, help="figure title")
    a = ap.parse_args()

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        sys.exit("plot_metrics: needs matplotlib (Debian: apt-get install python3-matplotlib)")

    curves = {}  # name -> list of runs (one per file: seeds)
    for arg in a.logs:
        label, path = arg.split("=", 1) if "=" in arg and not os.path.exists(arg) else ("", arg)
        if not os.path.exists(path):
            sys.exit(f"plot_metrics: {path}: no such file")
        found = read_runs(path, label)
        if not found:
            sys.exit(f"plot_metrics: {path}: no epoch lines (write them with kdcl train/distill --log)")
        for name, r in found.items():
            curves.setdefault(name, []).append(r)

    panels = [("train_ce", "training cross-entropy", False), ("val_loss", "validation cross-entropy", False),
              ("train_acc", "training accuracy (%)", True), ("val_acc", "validation accuracy (%)", True)]
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=False)
    for (key, title, pct), ax in zip(panels, axes.flat):
        for i, (name, runs) in enumerate(curves.items()):
            color = f"C{i % 10}"
            mean, std = mean_std([r[key] for r in runs])
            epochs = max((r["epoch"] for r in runs), key=len)[: len(mean)]
            k = 100.0 if pct else 1.0
            entry = name if len(runs) == 1 else f"{name} (mean of {len(runs)})"
            tests = [r["test"] for r in runs if r["test"] is not None]
            if tests:
                tm = sum(tests) / len(tests)
                entry += f", test {100 * tm:.2f}%"
            ax.plot(epochs, [m * k for m in mean], color=color, label=entry, lw=1.6)
            if len(runs) > 1:
                ax.fill_between(epochs, [(m - s) * k for m, s in zip(mean, std)],
                                [(m + s) * k for m, s in zip(mean, std)], color=color, alpha=0.2, lw=0)
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    if a.title:
        fig.suptitle(a.title)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(f"wrote {a.out} ({len(curves)} curves)")


if __name__ == "__main__":
    main()
