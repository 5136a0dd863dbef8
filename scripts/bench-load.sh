#!/usr/bin/env bash
# Flow load benchmark: 100 000 flows in one bundle, our `ofctl add-flows` into vswitchd against
# `ovs-ofctl --bundle add-flows` into a real Open vSwitch bridge (datapath_type=netdev), same
# flows, alternating runs. Prints every run and the medians; docs/PERFORMANCE.md ("Flow load,
# 100k flows") records the results.
#
#   scripts/bench-load.sh [RUNS]        (default 5; needs root for Open vSwitch)
#
# Open vSwitch runs from a private directory (its own ovsdb-server and ovs-vswitchd), so a
# system instance, if any, is not touched. Both switches start empty; before each run the
# previous run's flows are deleted. Times are wall clock of the client command, which returns
# when the switch has committed the bundle (our daemon has also saved it to disk).
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS="${1:-5}"
N=100000

if ! command -v ovs-vswitchd >/dev/null || ! command -v ovs-ofctl >/dev/null; then
    echo "bench-load: Open vSwitch is not installed (apt-get install openvswitch-switch)" >&2
    exit 1
fi

echo "building vswitchd and ofctl (release)"
cargo build --release --quiet -p vswitchd -p ofctl
TARGET="${CARGO_TARGET_DIR:-target}/release"
OFCTL="$TARGET/ofctl"
VSWITCHD="$TARGET/vswitchd"

WORK="$(mktemp -d /tmp/bench-load.XXXXXX)"
OVS_DIR="$WORK/ovs"
mkdir -p "$OVS_DIR"
VS_PID=""

cleanup() {
    [ -n "$VS_PID" ] && kill "$VS_PID" 2>/dev/null && wait "$VS_PID" 2>/dev/null
    for p in ovs-vswitchd ovsdb-server; do
        if [ -f "$OVS_DIR/$p.pid" ]; then
            kill "$(cat "$OVS_DIR/$p.pid")" 2>/dev/null || true
        fi
    done
    sleep 0.5
    rm -rf "$WORK"
}
trap cleanup EXIT

# The same flows for both switches: distinct /32 destinations over 1000 priorities.
awk -v n="$N" 'BEGIN {
    for (i = 0; i < n; i++) {
        b = int(i / 65536); c = int(i / 256) % 256; d = i % 256
        printf "priority=%d,ip,nw_dst=10.%d.%d.%d,actions=output:%d\n", 100 + i % 1000, b, c, d, 1 + i % 2
    }
}' >"$WORK/flows.txt"

echo "starting vswitchd"
"$VSWITCHD" --socket "$WORK/vswitchd.sock" --state-dir "$WORK/state" 2>"$WORK/vswitchd.log" &
VS_PID=$!
for _ in $(seq 100); do [ -S "$WORK/vswitchd.sock" ] && break; sleep 0.1; done
ours() { "$OFCTL" --socket "$WORK/vswitchd.sock" "$@"; }
ours add-br br0

echo "starting Open vSwitch in $OVS_DIR"
export OVS_RUNDIR="$OVS_DIR" OVS_LOGDIR="$OVS_DIR" OVS_DBDIR="$OVS_DIR" OVS_SYSCONFDIR="$OVS_DIR"
ovsdb-tool create "$OVS_DIR/conf.db" /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server "$OVS_DIR/conf.db" --remote="punix:$OVS_DIR/db.sock" --pidfile="$OVS_DIR/ovsdb-server.pid" \
    --detach --log-file="$OVS_DIR/ovsdb-server.log"
ovs-vsctl --db="unix:$OVS_DIR/db.sock" --no-wait init
ovs-vswitchd "unix:$OVS_DIR/db.sock" --pidfile="$OVS_DIR/ovs-vswitchd.pid" --detach \
    --log-file="$OVS_DIR/ovs-vswitchd.log"
ovs-vsctl --db="unix:$OVS_DIR/db.sock" add-br brbench -- set bridge brbench datapath_type=netdev
OVS_BR="unix:$OVS_DIR/brbench.mgmt"
for _ in $(seq 100); do [ -S "$OVS_DIR/brbench.mgmt" ] && break; sleep 0.1; done

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

OURS=()
THEIRS=()
for run in $(seq "$RUNS"); do
    ours del-flows br0
    t0=$(now); ours add-flows br0 "$WORK/flows.txt"; t1=$(now)
    n=$(ours dump-tables br0 | awk -F'[=,]' '/table 0:/ { print $2 }')
    [ "$n" = "$N" ] || { echo "vswitchd has $n flows, expected $N" >&2; exit 1; }
    OURS+=("$(elapsed "$t0" "$t1")")

    ovs-ofctl -O OpenFlow14 del-flows "$OVS_BR"
    t0=$(now); ovs-ofctl -O OpenFlow14 --bundle add-flows "$OVS_BR" "$WORK/flows.txt"; t1=$(now)
    n=$(ovs-ofctl -O OpenFlow14 dump-aggregate "$OVS_BR" | sed -n 's/.*flow_count=\([0-9]*\).*/\1/p')
    [ "$n" = "$N" ] || { echo "Open vSwitch has $n flows, expected $N" >&2; exit 1; }
    THEIRS+=("$(elapsed "$t0" "$t1")")

    printf 'run %d: ofctl add-flows %ss   ovs-ofctl --bundle add-flows %ss\n' \
        "$run" "${OURS[-1]}" "${THEIRS[-1]}"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
m_ours=$(median "${OURS[@]}")
m_theirs=$(median "${THEIRS[@]}")
echo
echo "flows: $N, runs: $RUNS, $(nproc) CPUs, $(ovs-vswitchd --version | head -1)"
echo "median ofctl add-flows:                $m_ours s"
echo "median ovs-ofctl --bundle add-flows:   $m_theirs s"
awk -v a="$m_ours" -v b="$m_theirs" 'BEGIN { printf "speedup: %.1fx\n", b / a }'
