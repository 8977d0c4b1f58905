#!/usr/bin/env bash
# Runs every libFuzzer harness given on the command line for FUZZ_SECONDS,
# starting from a scratch copy of its seed corpus in fuzz/corpus/<name>/.
# Any crash, leak, timeout or out-of-memory fails the run.
set -u
secs=${FUZZ_SECONDS:-20}
work=${BUILD:-build}/fuzz-work
failed=0
for h in "$@"; do
    name=$(basename "$h")
    seed=fuzz/corpus/${name#fuzz_}
    if [ ! -d "$seed" ] || [ -z "$(ls -A "$seed" 2>/dev/null)" ]; then
        echo "fuzz-smoke: $name has no seed corpus in $seed"
        failed=1
        continue
    fi
    rm -rf "$work/$name" && mkdir -p "$work/$name/corpus" "$work/$name/artifacts"
    cp -r "$seed"/. "$work/$name/corpus/"
    dict=()
    [ -f "fuzz/${name#fuzz_}.dict" ] && dict=(-dict="fuzz/${name#fuzz_}.dict")
    echo "=== $name (${secs}s)"
    if ! "$h" "${dict[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
         -print_final_stats=1 -artifact_prefix="$work/$name/artifacts/" \
         "$work/$name/corpus" > "$work/$name/log" 2>&1; then
        echo "fuzz-smoke: $name FAILED; last lines of its log:"
        tail -n 40 "$work/$name/log"
        failed=1
    else
        grep -E 'stat::number_of_executed_units|stat::peak_rss_mb' "$work/$name/log" | tr '\n' ' '
        echo
    fi
done
exit $failed
