#!/usr/bin/env bash
# The distillation-recipe sweep behind docs/results.md: for each student
# recipe (optimizer, schedule, epochs, dropout, augmentation) the student
# alone and distilled with several (method, T, weights), one seed, on a
# subset of Fashion-MNIST. Each configuration is one 'kdcl distill' run
# whose --log ends with "test" lines (accuracy, agreement with the teacher);
# the first distilled run of a recipe also trains the student alone
# (--baseline), so every row of a recipe shares that one baseline.
# tools/sweep_table.py turns OUTDIR into the table. Finished runs are kept:
# running the script again only does what is missing.
#
#   TEACHER=T.safetensors tools/sweep_kd.sh [OUTDIR]      (default runs/sweep)
#
# Environment: TEACHER (required), LIMIT (images of each split; 10000),
# SEED (1), KDCL (./build/kdcl), ONLY (a regex of configuration names).
set -euo pipefail
cd "$(dirname "$0")/.."
KDCL=${KDCL:-./build/kdcl}
OUT=${1:-runs/sweep}
TEACHER=${TEACHER:?set TEACHER to a teacher file (kdcl train)}
LIMIT=${LIMIT:-10000}
SEED=${SEED:-1}
ONLY=${ONLY:-.}
mkdir -p "$OUT"
COMMON=(--teacher "$TEACHER" --student seed-cnn --resize 36 --data fashion-mnist --limit "$LIMIT" --seed "$SEED" --quiet)

# name | student recipe | distillation settings. A recipe's first line
# carries its baseline (the student alone, same recipe).
CONFIGS=$(cat <<'EOF'
B-adam-cos-do0.5|--epochs 15 --schedule cosine --cache-teacher|--alpha 0.1 --temperature 4
B-adam-cos-do0.5|--epochs 15 --schedule cosine --cache-teacher|--alpha 0.5 --temperature 4
C-adam-cos-do0|--epochs 15 --schedule cosine --dropout 0 --cache-teacher|--alpha 0.1 --temperature 4
C-adam-cos-do0|--epochs 15 --schedule cosine --dropout 0 --cache-teacher|--alpha 0.5 --temperature 4
C-adam-cos-do0|--epochs 15 --schedule cosine --dropout 0 --cache-teacher|--kd dkd --temperature 4 --dkd-alpha 1 --dkd-beta 8
D-sgd-cos-do0|--epochs 15 --optimizer sgd --lr 0.05 --nesterov --weight-decay 5e-4 --schedule cosine --warmup 1 --dropout 0 --cache-teacher|--alpha 0.1 --temperature 4
D-sgd-cos-do0|--epochs 15 --optimizer sgd --lr 0.05 --nesterov --weight-decay 5e-4 --schedule cosine --warmup 1 --dropout 0 --cache-teacher|--alpha 0.5 --temperature 4
D-sgd-cos-do0|--epochs 15 --optimizer sgd --lr 0.05 --nesterov --weight-decay 5e-4 --schedule cosine --warmup 1 --dropout 0 --cache-teacher|--alpha 0.1 --temperature 2
D-sgd-cos-do0|--epochs 15 --optimizer sgd --lr 0.05 --nesterov --weight-decay 5e-4 --schedule cosine --warmup 1 --dropout 0 --cache-teacher|--kd dkd --temperature 4 --dkd-alpha 1 --dkd-beta 8
D-sgd-cos-do0|--epochs 15 --optimizer sgd --lr 0.05 --nesterov --weight-decay 5e-4 --schedule cosine --warmup 1 --dropout 0 --cache-teacher|--kd dkd --temperature 4 --dkd-alpha 1 --dkd-beta 2
G-sgd-cos-do0.5|--epochs 15 --optimizer sgd --lr 0.05 --nesterov --weight-decay 5e-4 --schedule cosine --warmup 1 --cache-teacher|--alpha 0.1 --temperature 4
F-sgd-cos-do0-aug|--epochs 15 --optimizer sgd --lr 0.05 --nesterov --weight-decay 5e-4 --schedule cosine --warmup 1 --dropout 0 --augment crop,flip|--alpha 0.1 --temperature 4
D-sgd-cos-do0|--epochs 15 --optimizer sgd --lr 0.05 --nesterov --weight-decay 5e-4 --schedule cosine --warmup 1 --dropout 0 --cache-teacher|--kd dkd --temperature 4 --dkd-alpha 1 --dkd-beta 8 --dkd-warmup 5
D-sgd-cos-do0|--epochs 15 --optimizer sgd --lr 0.05 --nesterov --weight-decay 5e-4 --schedule cosine --warmup 1 --dropout 0 --cache-teacher|--kd dkd --temperature 2 --dkd-alpha 1 --dkd-beta 1
H-sgdplain-cos-do0|--epochs 15 --optimizer sgd --lr 0.05 --weight-decay 5e-4 --schedule cosine --warmup 1 --dropout 0 --cache-teacher|--alpha 0.1 --temperature 4
D-sgd-cos-do0|--epochs 15 --optimizer sgd --lr 0.05 --nesterov --weight-decay 5e-4 --schedule cosine --warmup 1 --dropout 0 --cache-teacher|--alpha 0.1 --temperature 8
E-adam-cos-do0-aug|--epochs 15 --schedule cosine --dropout 0 --augment crop,flip|--alpha 0.1 --temperature 4
A-adam-const-do0.5|--epochs 15 --cache-teacher|--alpha 0.1 --temperature 4
EOF
)

declare -A have_baseline
while IFS='|' read -r recipe student kd; do
  [ -n "$recipe" ] || continue
  tag=$(echo "$kd" | tr -d ' -' | tr '.' 'p')
  name="$recipe.$tag"
  [[ $name =~ $ONLY ]] || continue
  base=()
  # A recipe's baseline once: from this invocation, or a finished earlier one.
  if [ -z "${have_baseline[$recipe]:-}" ] && ! grep -qs '"event":"test","run":"alone"' "$OUT/$recipe".*.jsonl; then
    base=(--baseline)
  fi
  have_baseline[$recipe]=1
  if [ -f "$OUT/$name.jsonl" ] && grep -q '"event":"test"' "$OUT/$name.jsonl"; then echo "have $name"; continue; fi
  echo "+ $name"
  t0=$(date +%s)
  # shellcheck disable=SC2086  # recipe and kd are word lists
  if ! "$KDCL" distill "${COMMON[@]}" $student $kd "${base[@]}" --out "$OUT/$name.safetensors" \
        --log "$OUT/$name.jsonl" > "$OUT/$name.log" 2>&1; then
    echo "FAILED: $name (see $OUT/$name.log)"; tail -3 "$OUT/$name.log"; exit 1
  fi
  echo "$name $(( $(date +%s) - t0 )) s: kdcl distill ${COMMON[*]} $student $kd ${base[*]}" >> "$OUT/commands.txt"
done <<< "$CONFIGS"
echo "done; table: tools/sweep_table.py $OUT"
