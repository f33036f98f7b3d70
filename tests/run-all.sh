#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs the dependencies, builds
# cairn twice (warnings as errors; and with AddressSanitizer +
# UndefinedBehaviorSanitizer), runs every suite except the benchmarks, and
# ends with one line "N passed, N failed".  Exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

bash tools/install-deps.sh --tests || { echo "dependency installation failed"; echo "0 passed, 1 failed"; exit 1; }

passed=0
failed=0
skipped=0

# count BUILDDIR: adds meson's per-test results to the totals.
count() {
	local log="$1/meson-logs/testlog.json"
	[ -f "$log" ] || return 0
	local p f s
	p=$(jq -s '[.[] | select(.result == "OK" or .result == "EXPECTEDFAIL")] | length' "$log")
	f=$(jq -s '[.[] | select(.result == "FAIL" or .result == "ERROR" or .result == "TIMEOUT" or .result == "UNEXPECTEDPASS")] | length' "$log")
	s=$(jq -s '[.[] | select(.result == "SKIP")] | length' "$log")
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
}

# build DIR OPTIONS...: configures (or reconfigures) and builds; a build failure counts as a failure.
build() {
	local dir="$1"; shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null || return 1
	else
		meson setup "$dir" "$@" >/dev/null || return 1
	fi
	ninja -C "$dir" || return 1
}

if build build-ci -Dwerror=true; then
	rm -f build-ci/meson-logs/testlog.json
	meson test -C build-ci --no-suite bench --print-errorlogs --num-processes 2
	count build-ci
else
	echo "build (werror) failed"; failed=$((failed + 1))
fi

# Sanitizers: unit and fuzz-corpus suites, plus the CLI integration tests.
if build build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false; then
	rm -f build-asan/meson-logs/testlog.json
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C build-asan --suite unit --suite fuzz --print-errorlogs --num-processes 2
	count build-asan
else
	echo "build (sanitizers) failed"; failed=$((failed + 1))
fi

echo
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
[ "$failed" -eq 0 ]
