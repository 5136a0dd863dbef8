#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ for SECONDS seconds each (default 60), on the stable toolchain.
#
#   scripts/fuzz.sh [SECONDS]
#
# cargo-fuzz needs nightly-only compiler flags (-Z sanitizer, coverage instrumentation);
# RUSTC_BOOTSTRAP=1 lets the stable compiler accept them, and `-s none` turns the sanitizer off
# (safe Rust needs no AddressSanitizer; what the fuzzer finds here is panics). Each target starts
# from its seed corpus in fuzz/corpus/<target>/; new inputs it finds go to a scratch copy, so a
# run leaves the committed seeds unchanged. A crash fails the run and leaves the input under
# fuzz/artifacts/<target>/.
set -euo pipefail

cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${1:-60}"
case "$SECONDS_PER_TARGET" in
    '' | *[!0-9]*)
        echo "usage: scripts/fuzz.sh [SECONDS]" >&2
        exit 2
        ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz --locked
fi

# The fuzz crate has its own target directory so its instrumented build does not invalidate
# the workspace's.
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/fuzz/target}"
export RUSTC_BOOTSTRAP=1

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# cargo-fuzz finds fuzz/ from the project root, where this runs; corpus paths are absolute
# because the fuzzer binary does not run in this directory.
# Every target runs even when an earlier one fails, so one run reports every failing target.
failed=()
for target in $(cargo fuzz list); do
    echo "---- fuzz target $target: ${SECONDS_PER_TARGET}s"
    mkdir -p "$scratch/$target"
    # A target's dictionary of tokens (fuzz/<target>.dict), when it has one, helps libFuzzer
    # build valid syntax.
    dict=()
    if [ -f "fuzz/$target.dict" ]; then
        dict=(-dict="$PWD/fuzz/$target.dict")
    fi
    # libFuzzer writes new inputs to the first corpus directory and reads seeds from all.
    if ! cargo fuzz run -s none "$target" "$scratch/$target" "$PWD/fuzz/corpus/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -print_final_stats=1 "${dict[@]}"; then
        failed+=("$target")
    fi
done
if [ "${#failed[@]}" -ne 0 ]; then
    echo "fuzz: failing targets: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
echo "fuzz: no failures"
