#!/usr/bin/env python3
"""Checks the two rules of docs/architecture.md on the tree and the build.

1. Layering: a file includes kdcl headers only from its own folder or from
   the folders its folder may use (LAYERS below; runtime/ uses nothing
   above it); a header named *_private.h only from its own folder (that is
   how a struct stays opaque: runtime/ctx_private.h, model_private.h).
2. No cycles in who calls whom: from `nm` on libkdcore.a, an edge A -> B
   when object A uses a symbol that object B defines; every strongly
   connected set of more than one object is reported with its edges.

  tools/check_architecture.py SOURCE_DIR LIBKDCORE.a
Exit 0 when both hold, 1 with what breaks them otherwise."""
import collections
import os
import re
import subprocess
import sys

# Folder -> the folders (besides itself) it may include. src/rng.h,
# src/text.h and src/tensor.h are leaves anyone may use.
LEAVES = {"src/rng", "src/text", "src/tensor"}
LAYERS = {
    "runtime": set(),
    "src/io": {"runtime"},
    "src/layers": {"runtime"},
    "src/data": {"runtime"},
    "src/dist": {"runtime"},
    "src/model": {"runtime", "src/io", "src/layers"},
    "src/tune": {"runtime"},
    "src/train": {"runtime", "src/data", "src/dist", "src/model", "src/layers", "src/io"},
    "src/export": {"runtime", "src/model", "src/layers", "src/io"},
    "src/cli": {"runtime", "src/io", "src/layers", "src/data", "src/dist", "src/model", "src/tune", "src/train",
                "src/export"},
}


def group(path):
    parts = path.split("/")
    if parts[0] == "runtime":
        return "runtime"
    if len(parts) == 2:
        return "src/" + parts[1].rsplit(".", 1)[0]
    return "src/" + parts[1]


def check_includes(root):
    bad = []
    for top in ("runtime", "src"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for name in sorted(files):
                if not name.endswith((".c", ".h")):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, name), root)
                me = group(rel)
                allowed = LAYERS.get(me)
                with open(os.path.join(root, rel), encoding="utf-8") as f:
                    for lineno, line in enumerate(f, 1):
                        m = re.match(r'\s*#\s*include\s+"((?:runtime|src)/[^"]+)"', line)
                        if not m:
                            continue
                        them = group(m.group(1))
                        if m.group(1).endswith("_private.h") and os.path.dirname(m.group(1)) != os.path.dirname(rel):
                            bad.append(f"{rel}:{lineno}: includes {m.group(1)}, private to "
                                       f"{os.path.dirname(m.group(1))}/ (use the accessors its public header declares)")
                            continue
                        if them == me or them in LEAVES:
                            continue
                        if allowed is None:
                            bad.append(f"{rel}: folder {me} has no entry in LAYERS (tools/check_architecture.py)")
                            break
                        if them not in allowed:
                            bad.append(f"{rel}:{lineno}: {me} includes {m.group(1)} ({them} is not below it)")
    return bad


def call_cycles(lib):
    out = subprocess.run(["nm", "-A", lib], capture_output=True, text=True, check=True).stdout
    defs, uses = {}, collections.defaultdict(set)
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        obj = parts[0].split(":")[-2] if parts[0].count(":") >= 2 else parts[0].rstrip(":")
        kind, sym = parts[-2], parts[-1]
        if kind == "U":
            uses[obj].add(sym)
        elif kind in "TDRBC":
            defs[sym] = obj
    graph = collections.defaultdict(set)
    for obj, syms in uses.items():
        for s in syms:
            if s in defs and defs[s] != obj:
                graph[obj].add(defs[s])
    # Tarjan's strongly connected components, iteratively.
    index, low, on, stack, sccs, counter = {}, {}, set(), [], [], [0]
    for start in list(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                scc = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    scc.append(w)
                    if w == v:
                        break
                if len(scc) > 1:
                    sccs.append(sorted(scc))
    report = []
    for scc in sccs:
        edges = [f"{a} -> {b}" for a in scc for b in sorted(graph[a]) if b in scc]
        report.append("call cycle among " + ", ".join(scc) + ": " + "; ".join(edges))
    return report, len(graph)


def main():
    if len(sys.argv) != 3:
        print(__doc__.strip().splitlines()[-2].strip())
        return 2
    root, lib = sys.argv[1], sys.argv[2]
    bad = check_includes(root)
    cycles, nobj = call_cycles(lib)
    for line in bad + cycles:
        print("check_architecture:", line)
    if bad or cycles:
        return 1
    print(f"check_architecture: layering holds for runtime/ and src/; no call cycles among {nobj} objects of {lib}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
