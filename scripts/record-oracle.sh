#!/usr/bin/env bash
# Records what the real Open vSwitch makes of the flow-syntax corpus, and checks the corpus's
# three files are filed right.
#
#   scripts/record-oracle.sh
#
# For each flow of flowtable/tests/data/ovs_flows.txt (blank lines and `#` lines skipped) it runs
# `ovs-ofctl -O OpenFlow13 parse-flow FLOW` and writes the text after `ADD ` as one line of
# ovs_flows.expected, in order. It fails, writing nothing, when
#   - a flow of ovs_flows.txt is rejected, or normalized (Open vSwitch logs "normalization
#     changed ofp_match" when it silently drops a match field whose prerequisite is missing);
#   - a flow of ovs_flows_rejected.txt is accepted;
#   - a flow of ovs_flows_stricter.txt is rejected, or accepted with every field it names kept
#     (Open vSwitch drops some such fields without logging, e.g. tcp_flags after udp).
# Needs Debian's openvswitch-common.
set -euo pipefail

cd "$(dirname "$0")/../flowtable/tests/data"

if ! command -v ovs-ofctl >/dev/null; then
    echo "record-oracle: ovs-ofctl not found (apt-get install openvswitch-common)" >&2
    exit 1
fi

# Prints the flows of a corpus file, one per line.
flows() {
    grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$1" || true
}

# Runs the oracle on one flow. Sets $canonical (empty when rejected), $normalized (0/1) and $err.
oracle() {
    local out status=0
    out="$(ovs-ofctl -O OpenFlow13 parse-flow "$1" 2>&1)" || status=$?
    canonical=""
    normalized=0
    err=""
    if [ "$status" -ne 0 ]; then
        err="$(printf '%s\n' "$out" | tail -n 1)"
        return
    fi
    canonical="$(printf '%s\n' "$out" | sed -n 's/^OFPT_FLOW_MOD .*): ADD //p')"
    if printf '%s\n' "$out" | grep -q 'normalization changed ofp_match'; then
        normalized=1
    fi
}

# Whether some `name=` of the match part of flow $1 is missing from the canonical text $2.
drops_a_field() {
    local name
    for name in $(printf '%s\n' "${1%%actions=*}" | grep -o '[a-z0-9_]*=' | tr -d =); do
        case " ${2%%actions=*}" in
            *[\ ,]"$name="*) ;;
            *) return 0 ;;
        esac
    done
    return 1
}

failures=0
fail() {
    echo "record-oracle: $*" >&2
    failures=$((failures + 1))
}

expected="$(mktemp)"
trap 'rm -f "$expected"' EXIT

n=0
while IFS= read -r flow; do
    oracle "$flow"
    if [ -z "$canonical" ]; then
        fail "ovs_flows.txt: rejected: $flow: $err"
    elif [ "$normalized" -eq 1 ]; then
        fail "ovs_flows.txt: normalized (belongs in ovs_flows_stricter.txt): $flow"
    fi
    printf '%s\n' "$canonical" >>"$expected"
    n=$((n + 1))
done < <(flows ovs_flows.txt)

r=0
while IFS= read -r flow; do
    oracle "$flow"
    [ -n "$canonical" ] && fail "ovs_flows_rejected.txt: accepted: $flow -> $canonical"
    r=$((r + 1))
done < <(flows ovs_flows_rejected.txt)

s=0
while IFS= read -r flow; do
    oracle "$flow"
    if [ -z "$canonical" ]; then
        fail "ovs_flows_stricter.txt: rejected (belongs in ovs_flows_rejected.txt): $flow: $err"
    elif [ "$normalized" -eq 0 ] && ! drops_a_field "$flow" "$canonical"; then
        fail "ovs_flows_stricter.txt: accepted unchanged (belongs in ovs_flows.txt): $flow"
    fi
    s=$((s + 1))
done < <(flows ovs_flows_stricter.txt)

if [ "$failures" -ne 0 ]; then
    echo "record-oracle: $failures problem(s); ovs_flows.expected not written" >&2
    exit 1
fi
cp "$expected" ovs_flows.expected
echo "record-oracle: $n flows recorded, $r rejected and $s stricter flows checked ($(ovs-ofctl --version | head -n 1))"
