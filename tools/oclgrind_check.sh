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
# oclgrind 21.10's --uninitialized plugin itself segfaults on lane reads of
# a computed vector (v.s0 + v.s1 ... in conv_dw_dot), so kernels sum vector
# lanes through private memory instead (cl/conv.cl).
#
# kd_ctx_free clears CLBlast's program cache while the context is alive:
# left to CLBlast's static destructor at exit, releasing those programs
# corrupted oclgrind's heap in about 1 exit of 50 (CI's test_blas abort).
#
# test_conv, test_dense, test_blas and test_eltwise leave their costliest
# cases to the native runs under oclgrind (ctx->oclgrind; see each test):
# test_dense's one large product took 5 minutes here, test_blas's shapes
# with a dimension of 300 or more (cut to a fifth there) 35 s each. Not in the default list, for time: the larger model tests
# (test_model, test_e2e, ...). The tests run one per core, longest first.
set -uo pipefail
build=${1:-build}
shift || true
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
  tests=(test_blas test_conv test_dense test_eltwise test_tiny_net test_optim test_distill test_dkd test_batchnorm test_loss test_pool)
fi
command -v oclgrind >/dev/null || { echo "oclgrind_check: oclgrind is not installed (apt-get install oclgrind)"; exit 1; }
mkdir -p "$build/oclgrind"
fail=0
# One simulator process per core (oclgrind also spreads a kernel's
# work-groups over threads, but most of a test is not kernel time).
jobs=$(nproc 2>/dev/null || echo 2)
# run_one NAME: one test under oclgrind; its summary line, and on failure its
# first messages and its output's tail, as one block.
run_one() {
  local t=$1 exe="$build/tests/$1" log="$build/oclgrind/$1.log" out="$build/oclgrind/$1.out" start rc msgs
  [ -x "$exe" ] || { echo "oclgrind_check: $exe not found (build first)"; return 1; }
  start=$(date +%s)
  KDCL_CACHE_DIR="$build/oclgrind/cache-$t" KDCL_TEST_DATA="$(dirname "$0")/../tests/data" \
    oclgrind --uninitialized --data-races --check-api --log "$log" "$exe" > "$out" 2>&1
  rc=$?
  msgs=$(grep -c . "$log" 2>/dev/null || true)
  {
    echo "oclgrind_check: $t exit $rc, $msgs lines of oclgrind messages, $(( $(date +%s) - start )) s: $(tail -1 "$out")"
    if [ "$rc" -ne 0 ] || [ "${msgs:-0}" -ne 0 ]; then head -40 "$log" 2>/dev/null; tail -20 "$out"; fi
  } > "$out.summary"
  if [ "$rc" -eq 0 ] && [ "${msgs:-0}" -eq 0 ]; then echo ok > "$out.status"; fi
}
for t in "${tests[@]}"; do rm -f "$build/oclgrind/$t.out.summary" "$build/oclgrind/$t.out.status"; done
for t in "${tests[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  run_one "$t" &
done
wait
for t in "${tests[@]}"; do
  cat "$build/oclgrind/$t.out.summary" 2>/dev/null || echo "oclgrind_check: $t: no result"
  [ -f "$build/oclgrind/$t.out.status" ] || fail=1
done
exit $fail
