#!/usr/bin/env bash
# tools/check_architecture.py: the tree and the build it sits beside obey
# docs/architecture.md (layering of includes, no call cycles between
# objects), and the checker does catch both kinds of breakage, on a small
# made-up tree and archive.
#
# usage: cli_architecture.sh KDCL_BINARY   (libkdcore.a is beside it)
set -u
bin=${1:?usage: cli_architecture.sh KDCL_BINARY}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
tool=$root/tools/check_architecture.py
lib=$(dirname "$bin")/libkdcore.a
KD_TEST_NAME=arch
. "$(dirname "$0")/cli_lib.sh"

/usr/bin/python3 "$tool" "$root" "$lib" > real.txt 2>&1
rc=$?
check "the tree and $lib pass (exit $rc): $(cat real.txt)" test "$rc" -eq 0
check "the pass names what it read" grep -q "no call cycles among [0-9]* objects" real.txt

# A made-up tree: runtime/ including src/ (upward), src/train/ including
# src/model/'s private header, and two objects that call each other.
mkdir -p fake/runtime fake/src/model fake/src/train
printf 'struct m { int x; };\n' > fake/src/model/m_private.h
printf '#include "src/model/m_private.h"\nint t(struct m *p);\nint t(struct m *p) { return p->x; }\n' > fake/src/train/t.c
printf '#include "src/model/m.h"\nint r(void);\nint m(void);\nint r(void) { return m(); }\n' > fake/runtime/r.c
printf 'int m(void);\n' > fake/src/model/m.h
printf 'int r(void);\nint m(void);\nint m(void) { return r() + 1; }\n' > fake/src/model/m.c
cc -c fake/runtime/r.c -o r.c.o -Ifake && cc -c fake/src/model/m.c -o m.c.o && ar rc libfake.a r.c.o m.c.o
/usr/bin/python3 "$tool" fake libfake.a > fake.txt 2>&1
rc=$?
check "a broken tree fails (exit $rc)" test "$rc" -eq 1
check "the upward include is named: $(cat fake.txt)" grep -q "runtime/r.c:1: runtime includes src/model/m.h" fake.txt
check "the private include is named: $(cat fake.txt)" grep -q "src/train/t.c:1: includes src/model/m_private.h" fake.txt
check "the call cycle is named: $(cat fake.txt)" grep -q "call cycle among m.c.o, r.c.o" fake.txt

echo "cli_architecture: $checks checks, $failures failures"
[ "$failures" -eq 0 ]
