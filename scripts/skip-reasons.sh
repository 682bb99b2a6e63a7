#!/bin/sh
# Print why each skipped test of the last `ctest` run skipped: CTest lists skipped tests
# but shows only failures' output. Reads BUILD/Testing/Temporary/LastTest.log.
# Usage: scripts/skip-reasons.sh BUILD
set -eu
log=${1:?usage: skip-reasons.sh BUILD}/Testing/Temporary/LastTest.log
[ -f "$log" ] || exit 0
awk '
	/^[0-9]+\/[0-9]+ Test: / { test = $3; next }
	/: Skipped$/ { grab = 1; reason = ""; next }
	grab && /^\[  SKIPPED \]/ { printf "  skipped %s: %s\n", test, reason; grab = 0; next }
	grab { reason = reason (reason == "" ? "" : " ") $0; next }
	/^SKIP: / { printf "  skipped %s: %s\n", test, substr($0, 7) }
' "$log"
