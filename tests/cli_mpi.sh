#!/usr/bin/env bash
# Data-parallel training over MPI, 2 ranks on POCL (one thread each):
#  (a) 2 ranks x batch B end within 1e-5 relative of 1 process x batch 2B
#      (same seed and initial weights, a model without batch norm or
#      dropout), with the same per-epoch figures;
#  (b) distill on 2 ranks reports the test accuracy `kdcl eval` finds in
#      its output file;
#  (c) a rank killed mid-epoch ends the job, non-zero, within 30 s, and
#      the last checkpoint stays readable;
#  (d) ranks started with different options are refused (exit 2).
#
# usage: cli_mpi.sh KDCL_BINARY   (env KDCL_MPIEXEC: mpirun)
set -u
bin=${1:?usage: cli_mpi.sh KDCL_BINARY}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
mpi=${KDCL_MPIEXEC:-mpirun}
py=${KDCL_ONNX_PYTHON:-/usr/bin/python3} # any python with numpy
KD_TEST_NAME=mpi
. "$(dirname "$0")/cli_lib.sh"
# Root in CI containers: Open MPI refuses root unless told; one POCL thread per rank on 2 cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
export POCL_MAX_PTHREAD_COUNT=1
# Sanitizer build: LeakSanitizer's tracer crashes at the exit of every
# process Open MPI runs ("Tracer caught signal 11", each time here, as in
# google/sanitizers#1353 with threads it does not know), so the ranks run
# with AddressSanitizer's error checks but without the leak check; the
# single-process runs of this test keep it.
mpi_env=()
[ -n "${ASAN_OPTIONS:-}" ] && mpi_env=(env "ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0")
mpi() { "${mpi_env[@]}" "$mpi" "$@"; }
mpirun2() { mpi --oversubscribe -np 2 "$@"; }
run() { # run LOG COMMAND...
  local log=$1; shift
  "$@" > "$log" 2>&1 || { echo "FAIL: $* (exit $?):"; cat "$log"; exit 1; }
}
cat > same.py <<'EOF'
import json, struct, sys
import numpy as np
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); d = b[8 + n:]
    return {k: np.frombuffer(d[v["data_offsets"][0]:v["data_offsets"][1]], np.float32)
            for k, v in h.items() if k != "__metadata__" and v["dtype"] == "F32"}
a, b = load(sys.argv[1]), load(sys.argv[2])
if a.keys() != b.keys(): sys.exit(f"different tensors: {sorted(a)} vs {sorted(b)}")
worst = max(float(np.abs(a[k] - b[k]).max() / max(1e-30, float(np.abs(a[k]).max()))) for k in a)
print(f"{len(a)} tensors, max relative difference {worst:.3g}")
sys.exit(0 if worst <= 1e-5 else 1)
EOF
epochs() { grep '"event":"epoch"' "$1" | sed 's/"seconds".*//'; } # the figures, not the times

# (a) equivalence with one process at twice the batch.
model=conv8x3p1,relu,maxpool2,conv16x3p1,relu,gap
recipe=(--model "$model" --data synthetic:600:1x12x12 --epochs 3 --lr 0.003 --seed 5 --quiet)
run one.txt "$bin" train "${recipe[@]}" --batch 32 --out one.safetensors --log one.jsonl
run two.txt mpirun2 "$bin" train "${recipe[@]}" --batch 16 --out two.safetensors --log two.jsonl
"$py" same.py one.safetensors two.safetensors > same.txt 2>&1
check "(a) 2 x 16 ends as 1 x 32: $(cat same.txt)" grep -q "max relative difference" same.txt
check "(a) within 1e-5" "$py" same.py one.safetensors two.safetensors
check "(a) the same epoch figures (loss, accuracy, validation)" diff <(epochs one.jsonl) <(epochs two.jsonl)
check "(a) learnt something (validation accuracy > 20%)" \
  "$py" -c "import json,sys; v=[json.loads(l)['val_acc'] for l in open('one.jsonl')]; sys.exit(v[-1] <= 0.2)"
check "(a) the test figures agree" diff <(grep '^test:' one.txt | sed 's/(.*//') <(grep '^test:' two.txt | sed 's/(.*//')
run two-loud.txt mpirun2 "$bin" train --model "$model" --data synthetic:600:1x12x12 --epochs 1 --batch 16 \
  --out loud.safetensors
check "(a) rank 0 alone prints, and says the global batch" \
  bash -c "[ \$(grep -c '^data-parallel over 2 ranks: batch 16 per rank, global batch 32' two-loud.txt) -eq 1 ]"

# --stop-after then --resume on 2 ranks ends exactly as the uninterrupted run.
mpirun2 "$bin" train "${recipe[@]}" --batch 16 --out r.safetensors --stop-after 20 > r1.txt 2>&1
rc=$?
check "--stop-after on 2 ranks: exit 130 on every rank, no abort (got $rc)" test "$rc" -eq 130
run r2.txt mpirun2 "$bin" train "${recipe[@]}" --batch 16 --out r.safetensors --resume r.ckpt.safetensors
check "--stop-after and --resume on 2 ranks: the uninterrupted run's weights" \
  "$py" same.py two.safetensors r.safetensors

# (b) distill on 2 ranks: its test accuracy is kdcl eval's on its output.
data=(--data synthetic:600:1x12x12 --batch 16 --quiet)
run t.txt "$bin" train --model "$model" "${data[@]}" --epochs 3 --lr 0.003 --out t.safetensors
run d.txt mpirun2 "$bin" distill --teacher t.safetensors --student conv8x3p1,relu,maxpool2,flatten,dense32,relu \
  "${data[@]}" --epochs 3 --lr 0.003 --out s.safetensors --log s.jsonl
run e.txt "$bin" eval --model s.safetensors --data synthetic:600:1x12x12
dacc=$(grep '"event":"test","run":"distilled"' s.jsonl | sed 's/.*"test_acc":\([0-9.e-]*\).*/\1/')
eacc=$(grep -o 'accuracy [0-9.]*%' e.txt | head -1 | grep -o '[0-9.]*')
check "(b) one test line per model (rank 0 writes the log)" \
  bash -c "[ \$(grep -c '\"event\":\"test\"' s.jsonl) -eq 2 ]"
check "(b) distill's test accuracy ($dacc) is kdcl eval's ($eacc%)" \
  "$py" -c "import sys; sys.exit(abs(100*float('$dacc') - float('$eacc')) > 0.005)"

# (c) a rank killed mid-epoch: the job ends, non-zero, within 30 s.
# mpirun itself in the background (not a function: $! would be a subshell), so its children are the ranks.
"${mpi_env[@]}" "$mpi" --oversubscribe -np 2 "$bin" train --model "$model" --data synthetic:4000:1x12x12 --epochs 200 --batch 8 \
  --quiet --checkpoint-every 20 --out k.safetensors > k.txt 2>&1 &
job=$!
victim=
for _ in $(seq 1 100); do # up to 20 s for both ranks to be training (the first checkpoint written)
  for p in $(pgrep -P "$job"); do
    tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1' && victim=$p
  done
  [ -n "$victim" ] && [ -e k.ckpt.safetensors ] && break
  sleep 0.2
done
check "(c) rank 1 found and training" test -n "$victim" -a -e k.ckpt.safetensors
t0=$(date +%s)
kill -9 "$victim" 2>/dev/null
for _ in $(seq 1 300); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
kill -0 "$job" 2>/dev/null && { pkill -9 -P "$job"; kill -9 "$job"; } # a hang fails the checks below, not the suite
wait "$job"
rc=$?
elapsed=$(($(date +%s) - t0))
check "(c) the job ends non-zero (exit $rc)" test "$rc" -ne 0
check "(c) within 30 s (took $elapsed s)" test "$elapsed" -le 30
check "(c) the last checkpoint stays valid" "$bin" eval --model k.ckpt.safetensors --data synthetic:4000:1x12x12 --quiet --limit 100

# (d) mismatched options are refused on every rank, exit 2.
mpi --oversubscribe -np 1 "$bin" train --model "$model" "${data[@]}" --epochs 1 --seed 1 --out m.safetensors : \
  -np 1 "$bin" train --model "$model" "${data[@]}" --epochs 1 --seed 2 --out m.safetensors > m.txt 2>&1
rc=$?
check "(d) refused with exit 2 (got $rc)" test "$rc" -eq 2
check "(d) the message names the rank ($(grep -m1 error m.txt | head -c 200))" \
  grep -q "rank 1 of 2 was started with other settings than rank 0" m.txt

echo "$((checks - failures)) of $checks checks passed"
[ "$failures" -eq 0 ]
