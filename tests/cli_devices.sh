#!/usr/bin/env bash
# kdcl devices, --version, --help, and device selection through the CLI:
# by index, substring, type and KDCL_DEVICE; no match exits 2 with the list.
set -u
KDCL=$1
fails=0
expect() { # expect CODE DESC -- CMD...
  local want=$1 desc=$2; shift 3
  out=$("$@" 2>&1); got=$?
  if [ "$got" != "$want" ]; then echo "FAIL: $desc: exit $got, wanted $want"; echo "$out" | head -20; fails=$((fails+1)); fi
}
has() { # has PATTERN DESC (in $out)
  if ! grep -qiE -- "$1" <<<"$out"; then echo "FAIL: $2: no '$1' in:"; echo "$out" | head -20; fails=$((fails+1)); fi
}
unset KDCL_DEVICE

expect 0 "devices lists" -- "$KDCL" devices
has "platform 0" "platform line"; has "^\* device 0:0" "selected mark"; has "compute units" "details"
has "fp16 / fp64" "fp flags"; has "global memory" "memory"; has "OpenCL C" "C version"

expect 0 "by index" -- "$KDCL" devices --platform 0 --device 0;  has "^\* device 0:0" "index pick"
expect 0 "by substring" -- "$KDCL" devices --platform portable --device PTHREAD; has "^\* device 0:0" "substring pick"
expect 0 "by type" -- "$KDCL" devices --device-type cpu; has "^\* device" "type pick"
expect 0 "global flag before command" -- "$KDCL" --device 0 devices; has "^\* device 0:0" "flag before"
expect 0 "flag=value" -- "$KDCL" devices --device=0; has "^\* device 0:0" "flag=value"
KDCL_DEVICE=0:0 expect 0 "env P:D" -- "$KDCL" devices; has "^\* device 0:0" "env pick"
KDCL_DEVICE=pthread expect 0 "env substring" -- "$KDCL" devices; has "^\* device 0:0" "env substring pick"

expect 2 "no gpu" -- "$KDCL" devices --device-type gpu; has "no OpenCL device matches" "no-match text"; has "\[0:0\]" "lists what exists"
expect 2 "bad index" -- "$KDCL" devices --platform 9; has "--platform 9" "echoes the flag"
expect 2 "bad substring" -- "$KDCL" devices --device radeon
KDCL_DEVICE=nosuchdevice expect 2 "env no match" -- "$KDCL" devices; has "KDCL_DEVICE='nosuchdevice'" "names env"
expect 2 "bad type" -- "$KDCL" devices --device-type fpga; has "not one of" "type choices"
expect 2 "missing value" -- "$KDCL" devices --device; has "needs a value" "missing value text"

expect 0 "version" -- "$KDCL" --version; has "^kdcl [0-9]" "kdcl version"; has "CLBlast 1\." "clblast version"; has "OpenCL platform 0" "platform version"
expect 0 "help" -- "$KDCL" --help; has "usage: kdcl" "usage"; has "devices" "lists commands"; has "KDCL_DEVICE" "env documented"
expect 0 "command help" -- "$KDCL" devices --help; has "--device-type" "device flags in help"
expect 2 "no command" -- "$KDCL"
expect 2 "unknown command" -- "$KDCL" devics; has "did you mean 'devices'" "command hint"
expect 2 "unknown flag" -- "$KDCL" devices --devise 0; has "did you mean --device" "flag hint"
expect 2 "single dash" -- "$KDCL" devices -d; has "two dashes" "single dash text"

echo "cli_devices: $fails failures"
[ "$fails" = 0 ]
