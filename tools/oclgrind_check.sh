#!/usr/bin/env bash
# Runs kernel tests under oclgrind, the OpenCL device simulator, with its
# uninitialised-value, data-race and API checks on; fails on any test
# failure and on any message oclgrind prints. Used by .ci/run.
#   tools/oclgrind_check.sh [BUILD_DIR] [TEST...]
# Each test's oclgrind log is kept in BUILD_DIR/oclgrind/NAME.log.
#
# kdcl runs on oclgrind with one change (runtime/ctx.h, kd_ctx.oclgrind):
# oclgrind 21.10 forgets what a kernel stored into a buffer the host never
# wrote, and what clEnqueueFillBuffer wrote, so new buffers are written from
# the host there (with NaN, which still exposes a read of data no kernel
# wrote) and fills are host writes.
#
# oclgrind does not carry what was written into a parent buffer over to a
# sub-buffer of it (kdcl's parameters are sub-buffers of one arena), so on
# oclgrind sub-buffers are host-written at creation too; that made
# test_dense clean. And oclgrind forgets what kernels store into a buffer
# after the host wrote only part of it (an offset, or fewer bytes than the
# buffer), so on oclgrind every host write covers the whole buffer
# (runtime/buffer.c, whole_write); that made test_conv and test_tiny_net
# clean: the reports they had inside CLBlast's XgemmDirectTN and in
# conv_cm_to_nchw were that, not uninitialised data handed to CLBlast.
#
# Not in the default list: test_conv (clean, but 20+ minutes under
# oclgrind; its kernels are reached by test_tiny_net's convolutions here)
# and the larger model tests (test_model, test_e2e, ...), for time.
set -uo pipefail
build=${1:-build}
shift || true
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  tests=(test_batchnorm test_loss test_dkd test_distill test_optim test_pool test_eltwise test_blas test_dense test_tiny_net)
fi
command -v oclgrind >/dev/null || { echo "oclgrind_check: oclgrind is not installed (apt-get install oclgrind)"; exit 1; }
mkdir -p "$build/oclgrind"
fail=0
for t in "${tests[@]}"; do
  exe="$build/tests/$t"
  [ -x "$exe" ] || { echo "oclgrind_check: $exe not found (build first)"; fail=1; continue; }
  log="$build/oclgrind/$t.log"
  start=$(date +%s)
  KDCL_CACHE_DIR="$build/oclgrind/cache" KDCL_TEST_DATA="$(dirname "$0")/../tests/data" \
    oclgrind --uninitialized --data-races --check-api --log "$log" "$exe" > "$build/oclgrind/$t.out" 2>&1
  rc=$?
  msgs=$(grep -c . "$log" 2>/dev/null || true)
  echo "oclgrind_check: $t exit $rc, $msgs lines of oclgrind messages, $(( $(date +%s) - start )) s: $(tail -1 "$build/oclgrind/$t.out")"
  if [ "$rc" -ne 0 ] || [ "${msgs:-0}" -ne 0 ]; then
    fail=1
    head -40 "$log" 2>/dev/null
    tail -20 "$build/oclgrind/$t.out"
  fi
done
exit $fail
