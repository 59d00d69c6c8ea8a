#!/usr/bin/env bash
# The GPU check: on a machine with a vendor's OpenCL GPU (AMD, Intel,
# NVIDIA), everything that shows kdcl works there, in one go, written to
# OUTDIR/gpu-check.md:
#   1. clinfo's platforms and devices, and 'kdcl devices';
#   2. the whole test suite (ctest) on the first GPU;
#   3. 'kdcl tune' for it (TUNE_BUDGET seconds) and tools/bench_compare.sh
#      there (images/s untuned and tuned, PyTorch beside it when PYTHON has
#      torch), its table in OUTDIR/benchmarks-gpu.md.
# Build first (README's set-up command); then
#
#   tools/gpu_check.sh [OUTDIR]        (default runs/gpu-check)
#
# Exits 2 when no GPU is visible to OpenCL, 1 when a test fails (the
# benchmarks still run, so the report is complete).
set -uo pipefail
cd "$(dirname "$0")/.."
KDCL=${KDCL:-./build/kdcl}
OUT=${1:-runs/gpu-check}
TUNE_BUDGET=${TUNE_BUDGET:-120}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
REPORT="$OUT/gpu-check.md"
# The tuning and the benchmarks' kernels stay out of the user's cache (the
# tests keep theirs in the build tree anyway).
export KDCL_CACHE_DIR=${KDCL_CACHE_DIR:-$OUT/cache}

if ! "$KDCL" devices --device-type gpu > "$OUT/devices.txt" 2>&1; then
  echo "no OpenCL GPU visible here:" >&2; cat "$OUT/devices.txt" >&2
  exit 2
fi
# The selected GPU as P:D, so that every test and benchmark uses it.
sel=$(sed -n 's/^\* device \([0-9]*:[0-9]*\) .*/\1/p' "$OUT/devices.txt" | head -1)
export KDCL_DEVICE=$sel
gpu=$(sed -n 's/^\* device [0-9:]*  *//p' "$OUT/devices.txt" | head -1)
echo "GPU: $gpu (KDCL_DEVICE=$sel)"

{
  echo "# kdcl on a GPU: $gpu"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), host $(hostname), kdcl $(git describe --always --dirty 2>/dev/null || echo '?')."
  echo
  echo '## clinfo'
  echo
  echo '```'
  clinfo -l 2>&1 || echo "(clinfo not installed)"
  echo '```'
  echo
  echo '## kdcl devices'
  echo
  echo '```'
  cat "$OUT/devices.txt"
  echo '```'
} > "$REPORT"

t0=$(date +%s)
ctest --test-dir build --output-on-failure --no-tests=error -j2 > "$OUT/ctest.log" 2>&1
tests_rc=$?
{
  echo
  echo "## Test suite on the GPU ($(( $(date +%s) - t0 )) s)"
  echo
  echo '```'
  grep -E "Test +#|tests passed|tests failed|Total Test time" "$OUT/ctest.log"
  echo '```'
} >> "$REPORT"

"$KDCL" tune --budget "$TUNE_BUDGET" > "$OUT/tune.log" 2>&1 || echo "kdcl tune failed (see $OUT/tune.log)" >&2
DOC="$OUT/benchmarks-gpu.md" tools/bench_compare.sh "$OUT/bench" > "$OUT/bench.log" 2>&1 ||
  echo "bench_compare failed (see $OUT/bench.log)" >&2
{
  echo
  echo "## Benchmarks (tools/bench_compare.sh)"
  echo
  if [ -f "$OUT/benchmarks-gpu.md" ]; then sed '1d' "$OUT/benchmarks-gpu.md"; else echo "(failed: see bench.log)"; fi
} >> "$REPORT"
echo "wrote $REPORT"
[ "$tests_rc" -eq 0 ] || { echo "some tests failed on the GPU (see $OUT/ctest.log)" >&2; exit 1; }
