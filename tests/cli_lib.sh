# Sourced by the tests/cli_*.sh scripts that count named checks: a scratch
# directory (removed at exit, and the current directory) and check().
# Not a test itself (ctest runs cli_*.sh; this file is cli_lib.sh and skipped).
work=$(mktemp -d "${TMPDIR:-/tmp}/kdcl-${KD_TEST_NAME:-cli}.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
checks=0 failures=0
check() { # check DESCRIPTION CONDITION...
  local what=$1; shift
  checks=$((checks + 1))
  if ! "$@"; then failures=$((failures + 1)); echo "FAIL: $what" >&2; fi
}
