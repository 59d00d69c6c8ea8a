#!/usr/bin/env bash
# tools/plot_metrics.py on real kdcl logs: a tiny distill --baseline on
# synthetic data (two labelled runs and test lines in one log) plus a
# teacher log become a PNG and an SVG that hold every run; bad input is
# refused with a message.
#
# usage: cli_plot_metrics.sh KDCL_BINARY
set -u
bin=${1:?usage: cli_plot_metrics.sh KDCL_BINARY}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
tool=$(cd "$(dirname "$0")/.." && pwd)/tools/plot_metrics.py
KD_TEST_NAME=plot
. "$(dirname "$0")/cli_lib.sh"
data=(--data synthetic:300:1x12x12 --batch 32 --quiet)
"$bin" train --model conv4x3p1,relu,gap "${data[@]}" --epochs 3 --out t.safetensors --log t.jsonl > t.txt 2>&1 ||
  { echo "teacher training failed:"; cat t.txt; exit 1; }
"$bin" distill --teacher t.safetensors --student conv2x3p1,relu,gap "${data[@]}" --epochs 3 --baseline \
  --out s.safetensors --log s.jsonl > s.txt 2>&1 || { echo "distill failed:"; cat s.txt; exit 1; }

/usr/bin/python3 "$tool" --out curves.png --title "plot test" teacher=t.jsonl s.jsonl > p.txt 2>&1
check "PNG written ($(cat p.txt))" grep -q "wrote curves.png (3 curves)" p.txt
check "PNG signature" bash -c "head -c 8 curves.png | od -An -tx1 | grep -q '89 50 4e 47 0d 0a 1a 0a'"
check "PNG of a real figure (> 20 kB)" test "$(stat -c %s curves.png)" -gt 20000
/usr/bin/python3 "$tool" --out curves.svg teacher=t.jsonl s.jsonl > p2.txt 2>&1
check "SVG written" grep -q "wrote curves.svg" p2.txt
# matplotlib writes legend text as glyph paths with the text in comments.
for name in "teacher train" "distilled, test" "alone, test" "validation accuracy"; do
  check "SVG has '$name'" grep -q "$name" curves.svg
done
# Two files with the same runs are one curve each, drawn as a mean.
cp s.jsonl s2.jsonl
/usr/bin/python3 "$tool" --out mean.png s.jsonl s2.jsonl > p3.txt 2>&1
check "seeds merge into one curve per run" grep -q "wrote mean.png (2 curves)" p3.txt
# Bad input: a missing file and a file without epoch lines.
/usr/bin/python3 "$tool" --out x.png missing.jsonl > e1.txt 2>&1; rc=$?
check "missing file refused (exit $rc)" bash -c "[ $rc -ne 0 ] && grep -q 'missing.jsonl: no such file' e1.txt"
echo '{"event":"test","run":"alone","test_acc":0.5}' > empty.jsonl
/usr/bin/python3 "$tool" --out x.png empty.jsonl > e2.txt 2>&1; rc=$?
check "log without epochs refused (exit $rc)" bash -c "[ $rc -ne 0 ] && grep -q 'no epoch lines' e2.txt"
check "no figure left for bad input" test ! -e x.png
echo "cli_plot_metrics: $checks checks, $failures failures"
[ "$failures" -eq 0 ]
