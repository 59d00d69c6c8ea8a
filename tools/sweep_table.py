#!/usr/bin/env python3
"""The table of a tools/sweep_kd.sh directory, as Markdown on stdout.

usage: tools/sweep_table.py OUTDIR

One row per run: recipe (the part of the file name before the last dot),
distillation settings, test accuracy, agreement with the teacher, and the
difference to the student alone of the same recipe; the alone rows come from
the --baseline run of each recipe.
"""
import glob
import json
import os
import sys


def tests_of(path):
    out = {}
    with open(path) as f:
        for line in f:
            o = json.loads(line)
            if o.get("event") == "test":
                out[o["run"]] = o
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    rows, alone = [], {}
    teacher = None
    for path in sorted(glob.glob(os.path.join(d, "*.jsonl"))):
        name = os.path.basename(path)[: -len(".jsonl")]
        recipe, _, kd = name.rpartition(".")
        t = tests_of(path)
        if "distilled" not in t:
            continue
        teacher = teacher or t.get("teacher")
        if "alone" in t:
            alone[recipe] = t["alone"]
        rows.append((recipe, kd, t["distilled"]))
    if teacher:
        print(f"teacher {teacher['model']}: test {100 * teacher['test_acc']:.2f}%\n")
    print("| recipe | distillation | test acc | agreement | vs alone |")
    print("| --- | --- | ---: | ---: | ---: |")
    done = set()
    for recipe, kd, r in rows:
        a = alone.get(recipe)
        if a and recipe not in done:
            done.add(recipe)
            print(f"| {recipe} | alone | {100 * a['test_acc']:.2f}% | {100 * a['agreement']:.2f}% | |")
        diff = f"{100 * (r['test_acc'] - a['test_acc']):+.2f}" if a else "?"
        print(f"| {recipe} | {kd} | {100 * r['test_acc']:.2f}% | {100 * r['agreement']:.2f}% | {diff} |")


if __name__ == "__main__":
    main()
