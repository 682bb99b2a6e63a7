#!/bin/sh
# Runs CTest one label at a time and prints what a passing run needs to say, short: a line per
# label (tests, passed, skipped, failed, seconds), each test that took 10 s or more as it ends
# (progress on the slow ones), why each skipped test skipped (CTest lists skipped tests but
# shows only failures' output), and the whole output of every failing test. Everything CTest
# printed stays in BUILD/Testing/ctest-LABEL.log, each label's results in
# BUILD/Testing/junit-LABEL.xml for any CI's JUnit reader.
# Usage: scripts/ctest-summary.sh BUILD [LABEL...]   (default: unit kernel matrix)
set -eu
build=$(cd "${1:?usage: ctest-summary.sh BUILD [LABEL...]}" && pwd)
shift
[ $# -gt 0 ] || set -- unit kernel matrix
status=0
for label in "$@"; do
	log=$build/Testing/ctest-$label.log
	mkdir -p "$build/Testing"
	# Slow tests and failures are shown as they end; the exit status goes through a file,
	# since the pipeline's is awk's.
	{ rc=0; ctest --test-dir "$build" -L "^$label\$" -j1 --output-on-failure \
		--output-junit "$build/Testing/junit-$label.xml" 2>&1 || rc=$?; echo $rc >"$log.status"; } | tee "$log" | awk -v label="$label" '
		function flush_failure() { if (failing) printf "%s", failure; failing = 0; failure = "" }
		/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: / {
			flush_failure()
			name = $0; sub(/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: /, "", name); sub(/ \.+.*$/, "", name); sub(/ +# GetParam.*$/, "", name)
			seconds = $0; sub(/ sec$/, "", seconds); sub(/^.* /, "", seconds)
			total++; time += seconds
			if ($0 ~ /\*\*\*Skipped/) skipped++
			else if ($0 ~ / Passed /) passed++
			else { failed++; failing = 1; failure = sprintf("  %s %s: FAILED (%d s), its output:\n", label, name, seconds) }
			if (seconds + 0 >= 10 && !failing)
				printf "  %s %s: %s (%d s)\n", label, name, ($0 ~ /\*\*\*Skipped/ ? "skipped" : "passed"), seconds
			next
		}
		/^ *Start +[0-9]+: / || /^[0-9]+% tests passed/ { flush_failure(); next }
		failing && NF { failure = failure "    " $0 "\n" }
		END {
			flush_failure()
			printf "%s: %d tests, %d passed, %d skipped, %d failed (%d s)\n", label, total, passed, skipped, failed, time
		}'
	rc=$(cat "$log.status")
	[ "$rc" = 0 ] || status=1
	# Why each skipped test skipped, from the label run's LastTest.log.
	awk '
		/^[0-9]+\/[0-9]+ Test: / { test = $3; next }
		/: Skipped$/ { grab = 1; reason = ""; next }
		grab && /^\[  SKIPPED \]/ { printf "  skipped %s: %s\n", test, reason; grab = 0; next }
		grab { reason = reason (reason == "" ? "" : " ") $0; next }
		/^SKIP: / { printf "  skipped %s: %s\n", test, substr($0, 7) }
	' "$build/Testing/Temporary/LastTest.log"
	[ "$rc" = 0 ] || echo "  $label: ctest exited $rc; its whole output: $log"
done
exit $status
