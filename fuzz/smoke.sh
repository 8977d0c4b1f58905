#!/usr/bin/env bash
# Runs every libFuzzer harness given on the command line for FUZZ_SECONDS,
# starting from a scratch copy of its seed corpus in fuzz/corpus/<name>/,
# FUZZ_JOBS harnesses at a time (default: one per online CPU).
# Any crash, leak, timeout or out-of-memory fails the run.
set -u
secs=${FUZZ_SECONDS:-20}
jobs=${FUZZ_JOBS:-$(nproc)}
work=${BUILD:-build}/fuzz-work

# Runs one harness; prints its result block at once so parallel output
# never interleaves; exit status 0 on a clean run.
run_one() {
    local h=$1 name seed dict=() out
    name=$(basename "$h")
    seed=fuzz/corpus/${name#fuzz_}
    if [ ! -d "$seed" ] || [ -z "$(ls -A "$seed" 2>/dev/null)" ]; then
        echo "fuzz-smoke: $name has no seed corpus in $seed"
        return 1
    fi
    rm -rf "${work:?}/$name" && mkdir -p "$work/$name/corpus" "$work/$name/artifacts"
    cp -r "$seed"/. "$work/$name/corpus/"
    [ -f "fuzz/${name#fuzz_}.dict" ] && dict=(-dict="fuzz/${name#fuzz_}.dict")
    if "$h" "${dict[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/$name/artifacts/" \
        "$work/$name/corpus" > "$work/$name/log" 2>&1; then
        out="=== $name (${secs}s): $(grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' \
            "$work/$name/log" | tr -s ' \n' ' ')"
        echo "$out"
        return 0
    fi
    { echo "=== $name FAILED; last lines of its log:"; tail -n 40 "$work/$name/log"; } | cat
    return 1
}

failed=0
running=0
for h in "$@"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
    run_one "$h" &
    running=$((running + 1))
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done
[ $failed -eq 0 ] && echo "fuzz-smoke: all $# harnesses clean" || echo "fuzz-smoke: FAILED"
exit $failed
