#!/usr/bin/env bash
# The one test command: what CI (.ci/run) runs and what the README tells you to run.
#
# It checks formatting, lints, every test of the workspace and a bounded fuzz run of each fuzz
# target. Run as root, it first installs the Debian packages the tests need (ovs-ofctl is the
# oracle of the flow-syntax tests). Without root it uses what is installed, and tests whose tools
# are missing skip themselves with a message, unless CI=true, where they fail instead.
#
# Environment:
#   FUZZ_SECONDS  seconds per fuzz target (default 60; 0 skips fuzzing)
#   CI            kept as given; tests read it to turn skips into failures
set -euo pipefail

cd "$(dirname "$0")/.."

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"

section() {
    printf '\n==== %s ====\n' "$*"
}

# Debian packages the test suites use: Open vSwitch (ovs-ofctl oracle, reference switch),
# libelf/zlib/pkg-config/clang/llvm (XDP programs), iperf3/ethtool/tcpdump (datapath tests),
# ping/ip (end-to-end tests in namespaces), openssl (certificates for the TLS tests).
PACKAGES=(openvswitch-common openvswitch-switch libelf-dev zlib1g-dev pkg-config iperf3 ethtool
    clang llvm tcpdump iputils-ping iproute2 openssl)

install_packages() {
    local missing=()
    local p
    for p in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "all Debian packages present"
        return
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "not root: not installing ${missing[*]} (tests that need them skip, or fail with CI=true)"
        return
    fi
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Update the package lists only when there are none, or an install from them fails.
    if ! compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null; then
        apt-get update
    fi
    if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
        apt-get update
        apt-get install -y --no-install-recommends "${missing[@]}"
    fi
}

section "Debian packages"
install_packages

section "cargo fmt --all --check (and the fuzz crate)"
cargo fmt --all --check
cargo fmt --manifest-path fuzz/Cargo.toml --check

section "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

section "cargo test --workspace (CI=${CI:-unset})"
cargo test --workspace

if [ "$FUZZ_SECONDS" -gt 0 ]; then
    section "fuzzing, ${FUZZ_SECONDS}s per target"
    scripts/fuzz.sh "$FUZZ_SECONDS"
else
    section "fuzzing skipped (FUZZ_SECONDS=0)"
fi

section "all checks passed"
