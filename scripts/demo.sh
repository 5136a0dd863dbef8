#!/usr/bin/env bash
# The main job: a bridge of AF_XDP ports between two network namespaces, programmed with ofctl.
#
#   scripts/demo.sh        (as root, on Debian with Rust)
#
# 1. installs the Debian packages it needs (iproute2, ethtool, iputils-ping) when run as root;
# 2. builds vswitchd and ofctl (release);
# 3. offline: `ofctl parse-flow` (canonical text, and a refused flow with its column) and
#    `ofctl trace-offline` of a packet through the pipeline of scripts/demo-flows.txt;
# 4. live: creates namespaces vsdemo-a (10.0.0.1) and vsdemo-b (10.0.0.2), each joined by a veth
#    pair to the root namespace; starts vswitchd on a private socket and state directory; adds
#    bridge br0 with the two veth ends as afxdp ports; programs flows with `ofctl add-flow` and
#    `ofctl add-flows`; pings from a to b; prints dump-flows with the counters, the port
#    counters, the megaflows, the drop counters and a trace; then stops vswitchd and removes everything it created
#    (also when a step fails).
#
# Without root, step 4 is skipped with a message (namespaces and AF_XDP need root).
set -euo pipefail

cd "$(dirname "$0")/.."

section() {
    printf '\n==== %s ====\n' "$*"
}

show() {
    printf '$ %s\n' "$*"
}

ROOT=0
[ "$(id -u)" -eq 0 ] && ROOT=1

if [ "$ROOT" -eq 1 ]; then
    section "Debian packages"
    missing=()
    for p in iproute2 ethtool iputils-ping; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends "${missing[@]}" ||
            { apt-get update && apt-get install -y --no-install-recommends "${missing[@]}"; }
    else
        echo "all present"
    fi
fi

section "build: cargo build --release -p vswitchd -p ofctl"
cargo build --release -p vswitchd -p ofctl
BIN="${CARGO_TARGET_DIR:-target}/release"

ofctl() {
    "$BIN/ofctl" "$@"
}

section "offline: ofctl parse-flow prints the canonical text, exactly as ovs-ofctl -O OpenFlow13"
for flow in \
    "table=1,priority=10,ct_state=+trk+new,ip,actions=ct(commit),output:2" \
    "priority=200,tcp,nw_dst=10.0.0.0/255.255.255.0,tcp_dst=80,actions=mod_nw_dst:10.0.0.5,output:3"; do
    show ofctl parse-flow "\"$flow\""
    ofctl parse-flow "$flow"
done
missing="tp_dst=80,actions=drop"
show ofctl parse-flow "\"$missing\""
if ofctl parse-flow "$missing"; then
    echo "demo: ofctl accepted a match without its prerequisite" >&2
    exit 1
else
    echo "(exit status $?: Open vSwitch would silently drop tp_dst; we refuse)"
fi

packet="in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.5,tp_dst=80"
section "offline: ofctl trace-offline through the three-table pipeline of scripts/demo-flows.txt"
show ofctl trace-offline scripts/demo-flows.txt "\"$packet\""
ofctl trace-offline scripts/demo-flows.txt "$packet"

if [ "$ROOT" -ne 1 ]; then
    section "live demo skipped: it needs root (network namespaces, AF_XDP); run: sudo $0"
    exit 0
fi

NS_A=vsdemo-a
NS_B=vsdemo-b
WORK="$(mktemp -d /tmp/vsdemo.XXXXXX)"
SOCK="$WORK/vswitchd.sock"
VS_PID=""

cleanup() {
    set +e
    if [ -n "$VS_PID" ]; then
        kill -TERM "$VS_PID" 2>/dev/null
        wait "$VS_PID" 2>/dev/null
    fi
    ip netns del "$NS_A" 2>/dev/null
    ip netns del "$NS_B" 2>/dev/null
    ip link del vsdemo-a0 2>/dev/null
    ip link del vsdemo-b0 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT
cleanup
WORK="$(mktemp -d /tmp/vsdemo.XXXXXX)"
SOCK="$WORK/vswitchd.sock"

section "live: two namespaces, each joined to the root namespace by a veth pair"
for side in a b; do
    ns="vsdemo-$side"
    ip="10.0.0.$([ "$side" = a ] && echo 1 || echo 2)"
    ip netns add "$ns"
    ip link add "vsdemo-${side}0" type veth peer name eth0 netns "$ns"
    ip -n "$ns" addr add "$ip/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip link set "vsdemo-${side}0" up
    echo "$ns: eth0 $ip/24 <-> vsdemo-${side}0 (root namespace)"
done

section "live: vswitchd on $SOCK"
"$BIN/vswitchd" --socket "$SOCK" --state-dir "$WORK/state" 2>"$WORK/vswitchd.log" &
VS_PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { cat "$WORK/vswitchd.log" >&2; exit 1; }

sw() {
    show ofctl "$@"
    "$BIN/ofctl" --socket "$SOCK" "$@"
}

sw add-br br0
sw add-port br0 vsdemo-a0 type=afxdp
sw add-port br0 vsdemo-b0 type=afxdp
sw show

section "live: flows"
sw add-flow br0 "priority=100,arp,actions=flood"
cat >"$WORK/flows.txt" <<'FLOWS'
# IP by destination; everything else is dropped.
priority=50,ip,nw_dst=10.0.0.1,actions=output:1
priority=50,ip,nw_dst=10.0.0.2,actions=output:2
priority=0,actions=drop
FLOWS
cat "$WORK/flows.txt"
sw add-flows br0 "$WORK/flows.txt"

section "live: ping from vsdemo-a (10.0.0.1) to vsdemo-b (10.0.0.2) across br0"
show ip netns exec "$NS_A" ping -c 5 -i 0.2 10.0.0.2
ip netns exec "$NS_A" ping -c 5 -i 0.2 -W 2 10.0.0.2

section "live: dump-flows, with the counters"
sw dump-flows br0

section "live: port counters, megaflows, drop counters, and a trace"
sw dump-ports br0
sw dump-megaflows br0
sw dump-drops br0
sw trace br0 "in_port=1,icmp,nw_src=10.0.0.1,nw_dst=10.0.0.2"

section "demo done (cleaning up)"
