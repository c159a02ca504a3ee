#!/usr/bin/env bash
# The fuzz targets in fuzz/ (cargo fuzz, libFuzzer), each for FUZZ_SECONDS (60 by default)
# from its committed seeds in fuzz/corpus/TARGET, two at a time (one per core). A crash, a
# failed assertion, a leak or a blown memory limit fails the run; the input that did it is
# printed, to become a regression test.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"
if [ "$(cargo-fuzz --version 2>/dev/null)" != "cargo-fuzz 0.13.2" ]; then
    cargo install cargo-fuzz --locked --version 0.13.2
fi
# libFuzzer's instrumentation needs unstable rustc flags; the stable toolchain allows them
# with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
cargo fuzz build
targets=$(cargo fuzz list)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() {
    local target=$1
    mkdir -p "$work/$target"
    # New inputs go to the scratch directory (first); the committed seeds stay as they are.
    if cargo fuzz run "$target" "$work/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
        >"$work/$target.log" 2>&1; then
        echo "fuzz $target: $(grep -E '^Done' "$work/$target.log" || echo done)"
    else
        echo "fuzz $target: FAILED"
        tail -n 60 "$work/$target.log"
        for input in fuzz/artifacts/"$target"/*; do
            echo "-- $input (base64):"
            base64 -w 0 "$input"
            echo
        done
        return 1
    fi
}

failed=0
pending=()
for target in $targets; do
    run "$target" &
    pending+=($!)
    if [ "${#pending[@]}" -ge 2 ]; then
        wait "${pending[0]}" || failed=1
        pending=("${pending[@]:1}")
    fi
done
for pid in "${pending[@]}"; do
    wait "$pid" || failed=1
done
exit "$failed"
