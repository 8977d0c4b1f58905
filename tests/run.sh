#!/usr/bin/env bash
# Runs each test binary given on the command line, shows its cmocka output,
# and ends with one summary line: "tests: N passed, N failed".
# TESTS=substring limits the run to binaries whose name contains it.
set -u
passed=0
failed=0
failed_names=()
for t in "$@"; do
    name=$(basename "$t")
    if [ -n "${TESTS:-}" ] && [[ "$name" != *"$TESTS"* ]]; then
        continue
    fi
    echo "=== $name"
    # Every test binary is bounded in time: a hang is a failure, not a stuck CI.
    timeout --kill-after=10 "${TEST_TIMEOUT:-300}" "$t"
    rc=$?
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failed_names+=("$name(rc=$rc)")
    fi
done
echo
[ $failed -eq 0 ] || echo "failed binaries: ${failed_names[*]}"
echo "tests: $passed passed, $failed failed"
[ $failed -eq 0 ]
