#!/usr/bin/env bash
# Runs kdcl's libFuzzer targets, each for a given time, and sums up.
#
#   CC=clang cmake -S . -B build-fuzz -DKDCL_FUZZ=ON -DKDCL_TESTS=OFF
#   cmake --build build-fuzz -j2
#   tools/fuzz.sh [-b build-fuzz] [-t SECONDS] [-p PARALLEL] [TARGET...]
#
# TARGET is a name without the fuzz_ prefix (safetensors idx cifar gzip image
# model_spec model_file device_select cli_args; default: all of them). Each target
# starts from tests/fuzz/corpus/TARGET and tests/fuzz/regress/TARGET and
# grows a working corpus in BUILD/fuzz-work/TARGET/corpus (kept between
# runs); crashes, leaks and timeouts land in BUILD/fuzz-work/TARGET/
# artifacts. A finding is fixed, then its input is copied to
# tests/fuzz/regress/TARGET/ where test_fuzz_regress replays it in every
# ordinary build. Exit status: 0 no findings, 1 findings, 2 usage.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
build=$here/build-fuzz
secs=600
par=1
while getopts "b:t:p:h" opt; do
  case $opt in
    b) build=$(cd "$OPTARG" && pwd) || exit 2 ;;
    t) secs=$OPTARG ;;
    p) par=$OPTARG ;;
    *) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(safetensors idx cifar gzip image model_spec model_file device_select cli_args)
fi
case $secs in ''|*[!0-9]*) echo "fuzz.sh: -t wants whole seconds, got '$secs'" >&2; exit 2 ;; esac
case $par in ''|*[!0-9]*|0) echo "fuzz.sh: -p wants a positive count, got '$par'" >&2; exit 2 ;; esac

# Longest input worth trying per target: headers and specs are short, data
# files need room for a few records.
max_len() {
  case $1 in
    cifar) echo 12400 ;;
    idx) echo 4096 ;;
    model_spec|device_select|cli_args) echo 1200 ;;
    *) echo 8192 ;;
  esac
}

run_one() {
  local t=$1 exe=$build/tests/fuzz/fuzz_$1 work=$build/fuzz-work/$1
  if [ ! -x "$exe" ]; then
    echo "fuzz.sh: $exe is missing: build with -DKDCL_FUZZ=ON (see the header of this script)" >&2
    return 2
  fi
  mkdir -p "$work/corpus" "$work/artifacts"
  local seeds=()
  for d in "$here/tests/fuzz/corpus/$t" "$here/tests/fuzz/regress/$t"; do
    [ -d "$d" ] && seeds+=("$d")
  done
  # -timeout: one input taking 10 s is a finding (a hang or a quadratic
  # blow-up), as is more than 2 GiB of memory.
  "$exe" "$work/corpus" "${seeds[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -max_len="$(max_len "$t")" -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    > "$work/log.txt" 2>&1
  local rc=$?
  local execs found
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log.txt" | tail -1)
  found=$(find "$work/artifacts" -type f | wc -l)
  printf '%-14s %6ss  %12s executions  %5s corpus files  %3s findings (exit %d)  log %s\n' "$t" "$secs" \
    "${execs:-?}" "$(find "$work/corpus" -type f | wc -l)" "$found" "$rc" "$work/log.txt"
  [ "$rc" -eq 0 ] && [ "$found" -eq 0 ]
}

status=0
running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$par" ]; then
    wait -n || status=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || status=1
  running=$((running - 1))
done
exit $status
