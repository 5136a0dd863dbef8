#!/usr/bin/env bash
# End-to-end forwarding benchmark: our switch against Open vSwitch's userspace datapath (AF_XDP
# ports) and the Linux kernel (bridge, nftables), same traffic, same rules, alternating in one run.
#
#   scripts/bench.sh                       # everything, 5 s per point, 2 rounds, writes the doc
#   scripts/bench.sh --duration 3 --rounds 1 --switches "ovs kernel" --no-write
#   scripts/bench.sh --generator-only      # vsbench against trafgen on a bare veth pair
#   scripts/bench.sh --zero-loss --sizes 64   # also each switch's zero-loss rate (RFC 2544 idea)
#
# Options: --duration S (per point), --rounds N, --switches "ours ours-xsk ours-nap ovs kernel xdp-fwd",
# --scenarios "p2p acl flows10k churn paced", --sizes "64 512 1500" (frame sizes of the p2p scenario;
# the others use 64), --rate PPS (send at this rate instead of flat out), --no-write (do not
# touch docs/PERFORMANCE.md), --generator-only, --skip-generator (no vsbench-against-trafgen
# check: quick runs), --tx-mode xdp|socket (how vsbench sends, below; default xdp),
# --tx-threads N (sending threads; socket mode only), --no-pin (leave the PMD threads and the
# generator where the scheduler puts them), --profile (perf record -g on the PMD thread of ours
# and of Open vSwitch during round 1's flat-out p2p 64-byte point; a summary goes in the report,
# the recordings to /tmp/bench-last-<switch>.perf), --zero-loss (the zero-loss rate search
# below), --zl-trial S (seconds per search trial, at least 1; default 2), --zl-iters N (paced
# rates per search; default 8), --zl-budget S (seconds per search; default 60), --zl-tolerance
# PCT (loss that still counts as none; default 0), --zl-retries N (a paced trial that lost
# frames is repeated up to N times and passes if a repeat loses none; default 1),
# --paced-rate PPS (the rate of the paced scenario; default 300000), --nap-us N (the nap of
# ours-nap; default 50), --sink xdp|socket (how vsbench counts arrivals, below; default xdp).
#
# Switches: ours (vswitchd as configured by default: cached flows forwarded by the ports' XDP
# programs where they can be, docs/DATAPATH.md "XDP flow offload"), ours-xsk (the same with
# xdp-offload=false on its ports: every frame through the AF_XDP sockets and the PMD thread, as
# Open vSwitch does; p2p only), ours-nap (the same as ours with [datapath]
# nap_us = --nap-us: a lightly loaded PMD thread sleeps between polls instead of spinning; it
# runs only the paced scenario, since a saturated thread never naps), Open vSwitch (ovs), the
# kernel, and xdp-fwd: no switch, only an XDP program on each port redirecting every frame out
# of the other (tests/src/bin/xdpfwd.rs), the least work any forwarder between the two ports can
# do here; what it forwards is the ceiling of the measurement (p2p only; needs --sink xdp).
#
# Topology: namespaces <P>g and <P>s; veth <P>g0 (in <P>g) to <P>a (root namespace) and <P>s0
# (in <P>s) to <P>b. The switch under test joins <P>a (port 1) and <P>b (port 2). vsbench sends
# from <P>g0 and counts at <P>s0. <P> is unique to this run; everything is removed on exit, even
# after a failure or Ctrl-C.
#
# Scenarios (the same rules for every switch):
#   p2p      in_port=1 -> output:2 (kernel: a two-port bridge), one flow, every --sizes size.
#   acl      1000 L3/L4 drop rules of 4 shapes that the traffic does not match, then p2p
#            (kernel: the same rules in an nftables bridge forward chain), 1000 flows.
#   flows10k p2p rules, 10 000 flows (distinct source address and ports): cache pressure.
#   churn    p2p while 1000 flow changes a second are applied (every 100 ms, 50 rules added and
#            the previous 50 deleted; kernel: an nftables chain flushed and refilled), 1000 flows.
#   paced    p2p rules, 1000 flows, sent at --paced-rate (whatever --rate says), below every
#            switch's capacity: what forwarding a given load costs (CPU per packet, latency).
#            No zero-loss search.
# CPUs: Open vSwitch pins its PMD thread to the last core by default (core 1 here); ours is
# given the same core (vswitchd's [datapath] cpus), and the generator's sending thread the first
# core (vsbench --tx-cpus), so that the switch under test and the generator do not take turns on
# one core while the other idles. --no-pin leaves all three unpinned.
# Generator modes: by default (--tx-mode xdp) vsbench lets the kernel build the frames with an
# XDP program (BPF_PROG_RUN live frames, no socket buffer: about 2.5x the frames per CPU second
# of a socket, paced or flat out, from one thread), so it out-sends the switches; --tx-mode
# socket sends through an AF_PACKET socket (sendmmsg), as trafgen does. XDP frames go to the
# peer veth's XDP ring; for the kernel bridge, which has no XDP program there, <P>a has GRO on
# so that the veth accepts them.
# Sink modes: by default (--sink xdp) an XDP program on <P>s0 counts the run's frames and drops
# them, passing one in 64 to vsbench's socket for latency and order; --sink socket receives
# every frame in an AF_PACKET socket. A veth delivers on the CPU that transmits, here the
# switch's PMD core, so a socket sink's receive path (about a third of that core) was charged to
# the switch under test; the XDP counter costs a small part of it.
# The generator sends flat out; "offered" is what it sent, "forwarded" what reached the sink;
# "veth drops" is the part of the loss the kernel counted on the four veth ends (queues full
# before the switch read a frame, or after it sent one), the rest was lost inside the switch.
# CPU per forwarded packet, two figures: the switch process (utime + stime of /proc/PID/stat, all
# its threads) and the machine's softirq time (/proc/stat), where the kernel does the veth, XDP
# and bridge work, per forwarded packet. This kernel samples CPU time by tick (no
# IRQ_TIME_ACCOUNTING): softirq work that runs in a process's context (the generator's sends,
# the switch's AF_XDP wakeups) is counted in that process and in softirq both, so the two are
# not added. "CPU/pkt vs OVS" compares the switch processes; the kernel bridge has only softirq.
#
# Zero-loss rate (--zero-loss; the throughput search of RFC 2544): for every switch, scenario and
# frame size, the highest offered rate at which no frame is lost. A trial sends at a paced rate
# (vsbench --rate) for --zl-trial seconds and passes when sent - received <= --zl-tolerance
# percent of sent (default 0: not one frame lost); a trial that lost frames is repeated up to
# --zl-retries times (default 1) and passes if a repeat is clean, so that one stall of this shared
# machine's scheduler does not decide the figure (both switches get the same rule). The search starts with a flat-out trial: if
# that loses nothing, the switch kept up with everything the generator could send, and the
# figure is the generator's ceiling, a lower bound (marked ">=" in the table). Otherwise it
# bisects between 0 (passes) and 1.05 times the rate the switch forwarded flat out (or the
# flat-out offered rate if lower; taken to fail), first probing just below the forwarded rate, for at most --zl-iters paced trials, --zl-budget seconds, or
# until the bracket is narrower than 1% (1000 frames/s at least). A paced trial that the
# generator could not keep up with (offered < 97% of the target) and that lost nothing ends the
# search at the generator's ceiling (">=") if the target was within 10% of the flat-out rate;
# further below, the generator was short of CPU (the veth and XDP work of the switch's port runs
# in its softirq): the rate it did send passes, and the search goes on above it. After each round, our switch runs
# every point once more for --duration seconds at the rate Open vSwitch sustained without loss in
# that round, and its loss there is reported: issue 5 asks for none.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT="$PWD"
DURATION=5
ROUNDS=2
SWITCHES="ours ours-xsk ours-nap ovs kernel xdp-fwd"
SCENARIOS="p2p acl flows10k churn paced"
PACED_RATE=300000
NAP_US=50
SIZES="64 512 1500"
WRITE=1
GEN_ONLY=0
RATE=0
TX_THREADS=1
TX_MODE=xdp
SINK=xdp
PIN=1
GEN_CHECK=1
PROFILE=0
ZERO_LOSS=0
ZL_TRIAL=2
ZL_ITERS=8
ZL_BUDGET=60
ZL_TOL=0
ZL_RETRIES=1
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        --switches) SWITCHES="$2"; shift 2 ;;
        --scenarios) SCENARIOS="$2"; shift 2 ;;
        --sizes) SIZES="$2"; shift 2 ;;
        --rate) RATE="$2"; shift 2 ;;
        --no-write) WRITE=0; shift ;;
        --generator-only) GEN_ONLY=1; shift ;;
        --tx-threads) TX_THREADS="$2"; shift 2 ;;
        --tx-mode) TX_MODE="$2"; shift 2 ;;
        --sink) SINK="$2"; shift 2 ;;
        --no-pin) PIN=0; shift ;;
        --skip-generator) GEN_CHECK=0; shift ;;
        --profile) PROFILE=1; shift ;;
        --zero-loss) ZERO_LOSS=1; shift ;;
        --zl-trial) ZL_TRIAL="$2"; shift 2 ;;
        --zl-iters) ZL_ITERS="$2"; shift 2 ;;
        --zl-budget) ZL_BUDGET="$2"; shift 2 ;;
        --zl-tolerance) ZL_TOL="$2"; shift 2 ;;
        --zl-retries) ZL_RETRIES="$2"; shift 2 ;;
        --paced-rate) PACED_RATE="$2"; shift 2 ;;
        --nap-us) NAP_US="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "bench: unknown option $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "bench: needs root (namespaces, XDP)" >&2; exit 1; }
awk -v t="$ZL_TRIAL" 'BEGIN { exit !(t >= 1 && t <= 60) }' || { echo "bench: --zl-trial must be in [1, 60] s" >&2; exit 2; }
[[ "$ZL_ITERS" =~ ^[0-9]+$ ]] && [ "$ZL_ITERS" -le 30 ] || { echo "bench: --zl-iters must be 0..30" >&2; exit 2; }
[[ "$ZL_BUDGET" =~ ^[0-9]+$ ]] || { echo "bench: --zl-budget is whole seconds" >&2; exit 2; }
[[ "$ZL_RETRIES" =~ ^[0-5]$ ]] || { echo "bench: --zl-retries must be 0..5" >&2; exit 2; }
[[ "$PACED_RATE" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --paced-rate is frames per second" >&2; exit 2; }
[[ "$NAP_US" =~ ^[0-9]+$ ]] && [ "$NAP_US" -le 10000 ] || { echo "bench: --nap-us must be 0..10000" >&2; exit 2; }
[[ "$TX_THREADS" =~ ^[1-8]$ ]] || { echo "bench: --tx-threads must be 1..8" >&2; exit 2; }
[[ "$TX_MODE" =~ ^(xdp|socket)$ ]] || { echo "bench: --tx-mode is xdp or socket" >&2; exit 2; }
[[ "$SINK" =~ ^(xdp|socket)$ ]] || { echo "bench: --sink is xdp or socket" >&2; exit 2; }
[ "$TX_MODE" = socket ] || [ "$TX_THREADS" = 1 ] || { echo "bench: --tx-threads needs --tx-mode socket" >&2; exit 2; }
if [ "$SINK" = socket ] && grep -qw xdp-fwd <<<"$SWITCHES"; then
    # Its redirected frames need NAPI on the sink's veth, which only the XDP counter gives it.
    echo "bench: xdp-fwd needs --sink xdp; leaving it out" >&2
    SWITCHES="$(tr ' ' '\n' <<<"$SWITCHES" | grep -vx xdp-fwd | tr '\n' ' ')"
fi

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# --- packages -------------------------------------------------------------------------------
need=()
# Building the switch and the generator (libbpf inside the afxdp crate, the XDP programs).
for p in libelf-dev zlib1g-dev pkg-config clang llvm; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
command -v ovs-vswitchd >/dev/null || need+=(openvswitch-switch)
command -v trafgen >/dev/null || need+=(netsniff-ng)
command -v nft >/dev/null || need+=(nftables)
command -v brctl >/dev/null || need+=(bridge-utils)
command -v ethtool >/dev/null || need+=(ethtool)
[ "$PROFILE" = 0 ] || command -v perf >/dev/null || need+=(linux-perf)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The packaged service, if it started, must not hold our interfaces: we run a private instance.

# --- build ----------------------------------------------------------------------------------
log "building vsbench, vswitchd and ofctl (release)"
# BENCH_NO_BUILD=1 reuses the binaries already built (repeated runs).
[ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release --quiet -p tests -p vswitchd -p ofctl --bin vsbench --bin xdpfwd --bin vswitchd --bin ofctl
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/release"
VSBENCH="$TARGET/vsbench"
XDPFWD="$TARGET/xdpfwd"
VSWITCHD="$TARGET/vswitchd"
OFCTL="$TARGET/ofctl"

# --- resources and cleanup --------------------------------------------------------------------
P="vb$(printf '%04x' $(( $$ % 65536 )))"
WORK="$(mktemp -d "/tmp/bench-$P.XXXXXX")"
OVS_DIR="$WORK/ovs"
OVS_BR="${P}o"
VS_PID=""
FWD_PID=""
CHURN_PID=""
RESULTS="$WORK/results.tsv"
HZ="$(getconf CLK_TCK)"
PMD_CPU=$(( $(nproc) - 1 ))
GEN_CPU=0

stop_ours() {
    if [ -n "$VS_PID" ]; then
        kill "$VS_PID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$VS_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$VS_PID" 2>/dev/null || true
        wait "$VS_PID" 2>/dev/null || true
        VS_PID=""
    fi
}
stop_ovs() {
    local p pid
    # The netdev datapath's bridge port is a persistent tap: delete the bridge while the daemon
    # runs, and the device after it has gone in any case.
    [ -S "$OVS_DIR/db.sock" ] && ovs_ctl --timeout=10 --if-exists del-br "$OVS_BR" 2>/dev/null || true
    for p in ovs-vswitchd ovsdb-server; do
        if [ -f "$OVS_DIR/$p.pid" ]; then
            pid="$(cat "$OVS_DIR/$p.pid")"
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
            rm -f "$OVS_DIR/$p.pid"
        fi
    done
    ip link del "$OVS_BR" 2>/dev/null || true
}
stop_kernel() {
    ip link del "${P}k" 2>/dev/null || true
    nft delete table bridge "$P" 2>/dev/null || true
}
stop_xdpfwd() {
    if [ -n "$FWD_PID" ]; then
        kill "$FWD_PID" 2>/dev/null || true
        wait "$FWD_PID" 2>/dev/null || true
        FWD_PID=""
    fi
}
stop_churn() {
    if [ -n "$CHURN_PID" ]; then
        kill "$CHURN_PID" 2>/dev/null || true
        wait "$CHURN_PID" 2>/dev/null || true
        CHURN_PID=""
    fi
}
cleanup() {
    stop_churn
    stop_ours
    stop_ovs
    stop_kernel
    stop_xdpfwd
    ip netns del "${P}g" 2>/dev/null || true
    ip netns del "${P}s" 2>/dev/null || true
    ip link del "${P}a" 2>/dev/null || true
    ip link del "${P}b" 2>/dev/null || true
    ip link del "${P}x" 2>/dev/null || true
    if [ -n "${KEEP_WORK:-}" ]; then log "work files kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ip link set IFACE up with IPv6 off (no router solicitations or DAD on the measured links).
link_up() { # [netns] iface
    if [ $# = 2 ]; then
        ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.disable_ipv6=1" || true
        ip -n "$1" link set "$2" up
    else
        sysctl -qw "net.ipv6.conf.$1.disable_ipv6=1" || true
        ip link set "$1" up
    fi
}

setup_net() {
    ip netns add "${P}g"
    ip netns add "${P}s"
    ip link add "${P}a" type veth peer name "${P}g0" netns "${P}g"
    ip link add "${P}b" type veth peer name "${P}s0" netns "${P}s"
    link_up "${P}a"; link_up "${P}b"
    link_up "${P}g" "${P}g0"; link_up "${P}s" "${P}s0"
    # The XDP generator's frames need NAPI on the receiving veth when no XDP program is there.
    [ "$TX_MODE" = socket ] || ethtool -K "${P}a" gro on >/dev/null
}

# --- the generator against trafgen ------------------------------------------------------------
# Both send UDP frames flat out on a bare veth pair for DURATION seconds from one thread; the
# receiving veth's rx counter tells what they achieved, and the CPU time they used (children's
# rusage, from `times`) gives frames per CPU second, the figure that survives a busy machine.
# (`times` must run in this shell, not in a $(...) subshell, to see this shell's children.)
child_cpu() { # variable
    times >"$WORK/times"
    printf -v "$1" '%s' "$(tail -1 "$WORK/times" | awk '{ for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); s += a[1] * 60 + a[2] } } END { printf "%.3f", s }')"
}
generator_compare() {
    ip link add "${P}x" type veth peer name "${P}y" netns "${P}s"
    ip link set "${P}x" netns "${P}g"
    link_up "${P}g" "${P}x"; link_up "${P}s" "${P}y"
    [ "$TX_MODE" = socket ] || ip netns exec "${P}s" ethtool -K "${P}y" gro on >/dev/null
    local rx0 rx1 line size c0 c1
    for size in 64 1500; do
        for tool in vsbench trafgen vsbench-xdp vsbench trafgen vsbench-xdp; do
            [ "$tool" = vsbench-xdp ] && [ "$TX_MODE" = socket ] && continue
            rx0=$(ip netns exec "${P}s" cat "/sys/class/net/${P}y/statistics/rx_packets")
            child_cpu c0
            if [ "$tool" != trafgen ]; then
                line=$(timeout $((DURATION + 20)) "$VSBENCH" --tx-netns "${P}g" --tx-iface "${P}x" \
                    --size "$size" --flows 100 --duration "$DURATION" \
                    --tx-mode "$([ "$tool" = vsbench ] && echo socket || echo xdp)")
            else
                # trafgen: the same frame (IPv4 checksum computed, 100 source addresses).
                local pad=$((size - 42))
                printf '{ 0x02,0x56,0x53,0x42,0x00,0x02, 0x02,0,0,0,0,1, c16(0x0800), 0x45,0,c16(%d),0,0,0x40,0,64,17,csumip(14,33), 10,1,0,drnd(1), 10,2,0,1, c16(10000),c16(5000),c16(%d),c16(0), fill(0,%d) }\n' \
                    $((size - 14)) $((size - 34)) "$pad" >"$WORK/trafgen.cfg"
                ip netns exec "${P}g" timeout -s INT "$DURATION" trafgen --dev "${P}x" \
                    --conf "$WORK/trafgen.cfg" --cpus 1 --no-cpu-stats >"$WORK/trafgen.out" 2>&1 || true
                line="$(grep -E 'packets outgoing' "$WORK/trafgen.out" | tr -s ' ' | head -1)"
            fi
            rx1=$(ip netns exec "${P}s" cat "/sys/class/net/${P}y/statistics/rx_packets")
            child_cpu c1
            printf 'generator\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$size" \
                "$(awk -v a="$rx0" -v b="$rx1" -v d="$DURATION" 'BEGIN { printf "%.0f", (b - a) / d }')" \
                "$(awk -v a="$c0" -v b="$c1" 'BEGIN { printf "%.3f", b - a }')" "$line" >>"$WORK/generator.tsv"
            log "generator $tool ${size}B: $(tail -1 "$WORK/generator.tsv" | cut -f4) pps received, $(tail -1 "$WORK/generator.tsv" | cut -f5) CPU s"
        done
    done
    ip netns exec "${P}g" ip link del "${P}x" 2>/dev/null || true
}

# --- rules --------------------------------------------------------------------------------------
# OpenFlow rules for our switch and Open vSwitch; nftables rules for the kernel. The ACL's
# traffic sources are 10.1.0.0/16 to 10.2.0.1, UDP ports 10000+ to 5000..5999 (see vsbench).
write_rules() {
    awk 'BEGIN {
        print "priority=10,in_port=1,actions=output:2" > "'"$WORK/p2p.flows"'"
        print "priority=10,in_port=2,actions=output:1" > "'"$WORK/p2p.flows"'"
        f = "'"$WORK/acl.flows"'"; n = "'"$WORK/acl.nft"'"
        for (i = 0; i < 1000; i++) {
            a = int(i / 256); b = i % 256; p = 1100 + i
            if (i % 4 == 0) {
                printf "priority=%d,udp,nw_src=172.16.%d.%d,tp_dst=%d,actions=drop\n", p, a, b, 1000 + i > f
                printf "ip saddr 172.16.%d.%d udp dport %d drop\n", a, b, 1000 + i > n
            } else if (i % 4 == 1) {
                printf "priority=%d,udp,nw_src=192.168.%d.0/24,actions=drop\n", p, b > f
                printf "ip saddr 192.168.%d.0/24 ip protocol udp drop\n", b > n
            } else if (i % 4 == 2) {
                printf "priority=%d,tcp,nw_dst=10.2.%d.%d,tp_dst=%d,actions=drop\n", p, a, b, 80 + i > f
                printf "ip daddr 10.2.%d.%d tcp dport %d drop\n", a, b, 80 + i > n
            } else {
                printf "priority=%d,udp,nw_src=10.1.0.0/16,tp_dst=%d,actions=drop\n", p, 7000 + i > f
                printf "ip saddr 10.1.0.0/16 udp dport %d drop\n", 7000 + i > n
            }
        }
        print "priority=10,in_port=1,actions=output:2" > f
        print "priority=10,in_port=2,actions=output:1" > f
    }'
}

# --- switches -----------------------------------------------------------------------------------
start_ours() { # [nap microseconds] [port options]
    rm -rf "$WORK/vs" && mkdir -p "$WORK/vs"
    { echo "[datapath]"; [ "$PIN" = 0 ] || echo "cpus = [$PMD_CPU]"; [ -z "${1:-}" ] || echo "nap_us = $1"; } >"$WORK/vs/vswitchd.toml"
    RUST_LOG=warn "$VSWITCHD" --config "$WORK/vs/vswitchd.toml" --socket "$WORK/vs/sock" \
        --state-dir "$WORK/vs/state" 2>>"$WORK/vswitchd.log" &
    VS_PID=$!
    for _ in $(seq 100); do [ -S "$WORK/vs/sock" ] && break; sleep 0.1; done
    [ -S "$WORK/vs/sock" ] || { log "vswitchd did not start"; return 1; }
    ours add-br br0 >/dev/null
    local out
    # BENCH_PORT_OPTIONS (e.g. "rx-ring=1024"): port options for experiments; unset by default.
    # shellcheck disable=SC2086
    out="$(ours add-port br0 "${P}a" type=afxdp ofport=1 ${2:-} ${BENCH_PORT_OPTIONS:-}
        ours add-port br0 "${P}b" type=afxdp ofport=2 ${2:-} ${BENCH_PORT_OPTIONS:-})"
    echo "$out" >>"$WORK/vswitchd.log"
    if grep -q 'not up' <<<"$out"; then log "our ports are not up: $out"; return 1; fi
    SWITCH_PID="$VS_PID"
}
ours() { "$OFCTL" --socket "$WORK/vs/sock" "$@"; }
ours_flows() { ours del-flows br0 >/dev/null; ours add-flows br0 "$1" >/dev/null; }

ovs_ctl() { ovs-vsctl --db="unix:$OVS_DIR/db.sock" "$@"; }
ovs_of() { ovs-ofctl -O OpenFlow13 "$@"; }
start_ovs() {
    rm -rf "$OVS_DIR" && mkdir -p "$OVS_DIR"
    export OVS_RUNDIR="$OVS_DIR" OVS_LOGDIR="$OVS_DIR" OVS_DBDIR="$OVS_DIR" OVS_SYSCONFDIR="$OVS_DIR"
    ovsdb-tool create "$OVS_DIR/conf.db" /usr/share/openvswitch/vswitch.ovsschema
    ovsdb-server "$OVS_DIR/conf.db" --remote="punix:$OVS_DIR/db.sock" \
        --pidfile="$OVS_DIR/ovsdb-server.pid" --detach --log-file="$OVS_DIR/ovsdb-server.log"
    ovs_ctl --no-wait init
    # Its default on this machine, made explicit: the PMD thread on the last core.
    [ "$PIN" = 0 ] || ovs_ctl --no-wait set Open_vSwitch . other_config:pmd-cpu-mask="$(printf '0x%x' $((1 << PMD_CPU)))"
    ovs-vswitchd "unix:$OVS_DIR/db.sock" --pidfile="$OVS_DIR/ovs-vswitchd.pid" --detach \
        --log-file="$OVS_DIR/ovs-vswitchd.log"
    ovs_ctl add-br "$OVS_BR" -- set bridge "$OVS_BR" datapath_type=netdev \
        -- add-port "$OVS_BR" "${P}a" -- set interface "${P}a" type=afxdp options:xdp-mode=native ofport_request=1 \
        -- add-port "$OVS_BR" "${P}b" -- set interface "${P}b" type=afxdp options:xdp-mode=native ofport_request=2
    local ofa ofb
    for _ in $(seq 100); do
        ofa="$(ovs_ctl get interface "${P}a" ofport)"; ofb="$(ovs_ctl get interface "${P}b" ofport)"
        [ "$ofa" = 1 ] && [ "$ofb" = 2 ] && break
        sleep 0.1
    done
    if [ "$ofa" != 1 ] || [ "$ofb" != 2 ]; then
        log "Open vSwitch ports not up (ofport $ofa $ofb): $(ovs_ctl get interface "${P}a" error)"
        return 1
    fi
    SWITCH_PID="$(cat "$OVS_DIR/ovs-vswitchd.pid")"
}
ovs_flows() { ovs_of del-flows "unix:$OVS_DIR/$OVS_BR.mgmt"; ovs_of add-flows "unix:$OVS_DIR/$OVS_BR.mgmt" "$1"; }

start_kernel() {
    ip link add "${P}k" type bridge
    ip link set "${P}a" master "${P}k"
    ip link set "${P}b" master "${P}k"
    link_up "${P}k"
    SWITCH_PID=""
}
kernel_rules() { # acl|none
    nft delete table bridge "$P" 2>/dev/null || true
    {
        echo "table bridge $P {"
        echo "  chain churn { }"
        echo "  chain forward {"
        echo "    type filter hook forward priority 0; policy accept;"
        echo "    jump churn"
        [ "$1" = acl ] && sed 's/^/    /' "$WORK/acl.nft"
        echo "  }"
        echo "}"
    } >"$WORK/kernel.nft"
    nft -f "$WORK/kernel.nft"
}

# The ceiling: XDP programs redirecting between the two ports, no switch (tests/src/bin/xdpfwd.rs).
start_xdpfwd() {
    "$XDPFWD" "${P}a" "${P}b" --seconds 7200 >"$WORK/xdpfwd.out" 2>>"$WORK/xdp-fwd.err" &
    FWD_PID=$!
    for _ in $(seq 50); do grep -q ready "$WORK/xdpfwd.out" 2>/dev/null && break; sleep 0.1; done
    grep -q ready "$WORK/xdpfwd.out" || { log "xdpfwd did not start"; return 1; }
    SWITCH_PID="$FWD_PID"
}

# start_switch, and once more after a failure (Open vSwitch's AF_XDP port setup failed once in a
# few dozen starts here, with nothing in its log to say why).
start_switch_retry() { # name round
    start_switch "$1" 2>>"$WORK/$1.err" && return 0
    log "$1: did not start (round $2), trying once more"
    stop_switch "$1"
    sleep 1
    start_switch "$1" 2>>"$WORK/$1.err"
}
start_switch() { # name
    case "$1" in
        ours) start_ours ;;
        ours-nap) start_ours "$NAP_US" ;;
        ours-xsk) start_ours "" xdp-offload=false ;;
        ovs) start_ovs ;;
        kernel) start_kernel ;;
        xdp-fwd) start_xdpfwd ;;
    esac
}
stop_switch() {
    case "$1" in
        ours|ours-nap|ours-xsk) stop_ours ;;
        ovs) stop_ovs ;;
        kernel) stop_kernel ;;
        xdp-fwd) stop_xdpfwd ;;
    esac
}
load_rules() { # switch scenario
    local file="$WORK/p2p.flows"
    [ "$2" = acl ] && file="$WORK/acl.flows"
    case "$1" in
        ours|ours-nap|ours-xsk) ours_flows "$file" ;;
        ovs) ovs_flows "$file" ;;
        kernel) if [ "$2" = acl ]; then kernel_rules acl; else kernel_rules none; fi ;;
        xdp-fwd) ;;
    esac
}

# Churn: 1000 rule changes a second, for at most $2 seconds (bounded by time and by step count).
# Each step (nominally every 100 ms) adds a batch of rules and deletes the previous step's batch
# (kernel: flushes the churn chain and refills it); a batch is sized so the total so far keeps up
# with 1000 changes/s even when a step takes longer than 100 ms on a busy machine. Writes the
# number of changes made to $WORK/churn.
churn_loop() { # switch seconds
    local sw="$1" start now steps=0 changes=0 prev=0 adds k f due old
    start=$(date +%s%N)
    while now=$(date +%s%N) && [ "$now" -lt $((start + $2 * 1000000000)) ] && [ "$steps" -lt $(( $2 * 20 )) ]; do
        due=$(( (now - start) / 1000000 + 100 - changes ))   # 1 change per ms, one step ahead
        adds=$((due - prev)); [ "$adds" -lt 1 ] && adds=1; [ "$adds" -gt 5000 ] && adds=5000
        k=$((steps + 1)); f="$WORK/churn-$k"
        awk -v k="$((1000 + k))" -v n="$adds" -v sw="$sw" 'BEGIN {
            for (i = 0; i < n; i++) {
                if (sw == "kernel")
                    printf "add rule bridge '"$P"' churn ip saddr 172.31.%d.%d udp dport %d drop\n", k % 256, i % 256, 2000 + i
                else
                    printf "cookie=%d,priority=500,udp,nw_src=172.31.%d.%d,tp_dst=%d,actions=drop\n", k, k % 256, i % 256, 2000 + i
            }
        }' >"$f"
        # Step k's rules carry cookie 1000+k; the base rules (cookie 0) are never selected.
        old="cookie=$((1000 + steps))/0xffffffffffffffff"
        case "$sw" in
            ours) ours add-flows br0 "$f" >/dev/null &&
                  { [ "$steps" = 0 ] || ours del-flows br0 "$old" >/dev/null; } ;;
            ovs) ovs_of add-flows "unix:$OVS_DIR/$OVS_BR.mgmt" "$f" &&
                 { [ "$steps" = 0 ] || ovs_of del-flows "unix:$OVS_DIR/$OVS_BR.mgmt" "$old"; } ;;
            kernel) { echo "flush chain bridge $P churn"; cat "$f"; } >"$f.nft" && nft -f "$f.nft" ;;
        esac
        changes=$((changes + adds + prev))
        prev=$adds
        steps=$k
        rm -f "$f" "$f.nft"
        echo "$changes" >"$WORK/churn"
        now=$(date +%s%N)
        [ $(( (now - start) / 1000000 )) -lt $((steps * 100)) ] && sleep 0.1
    done
}

# utime + stime of every thread of process $1 (0 without a process), in clock ticks.
# Frames the kernel dropped on the four veth ends (a full XDP or backlog queue, mostly): the
# loss that happened before the switch under test saw the frame or after it sent it.
veth_drops() {
    local n=0 v
    v=$(ip netns exec "${P}g" cat "/sys/class/net/${P}g0/statistics/tx_dropped"); n=$((n + v))
    v=$(cat "/sys/class/net/${P}a/statistics/rx_dropped"); n=$((n + v))
    v=$(cat "/sys/class/net/${P}b/statistics/tx_dropped"); n=$((n + v))
    v=$(ip netns exec "${P}s" cat "/sys/class/net/${P}s0/statistics/rx_dropped"); n=$((n + v))
    echo "$n"
}
proc_ticks() { if [ -n "$1" ] && [ -r "/proc/$1/stat" ]; then awk '{ print $14 + $15 }' "/proc/$1/stat"; else echo 0; fi; }
softirq_ticks() { awk '/^cpu / { print $8 }' /proc/stat; }

# vsbench from <P>g0 to <P>s0: prints its key=value line, or "failed".
vsbench_run() { # size flows rate seconds
    local threads=(--tx-mode "$TX_MODE")
    [ "$TX_THREADS" = 1 ] || threads+=(--threads "$TX_THREADS")
    [ "$PIN" = 0 ] || threads+=(--tx-cpus "$GEN_CPU")
    timeout $((${4%.*} + 30)) "$VSBENCH" --tx-netns "${P}g" --tx-iface "${P}g0" \
        --rx-netns "${P}s" --rx-iface "${P}s0" --size "$1" --flows "$2" --rate "$3" \
        --duration "$4" --drain-ms 300 --sink "$SINK" "${threads[@]}" || echo "failed"
}

# The thread id of the PMD thread of process $1 (ours: pmd0-*, Open vSwitch: pmd-*), or nothing.
pmd_tid() { ps -L -o tid=,comm= -p "$1" 2>/dev/null | awk '$2 ~ /^pmd/ { print $1; exit }'; }

# --profile: records the PMD thread of switch $1 (process $2) for $3 seconds in the background;
# `profile_summary` later turns the recording into the report's profile section.
profile_start() { # switch pid seconds
    local tid
    tid=$(pmd_tid "$2")
    [ -n "$tid" ] || { log "profile: no PMD thread in $1"; return 0; }
    perf record -q -g -t "$tid" -o "$WORK/$1.perf" -- sleep "$3" >/dev/null 2>&1 &
    PROFILE_PID=$!
}
profile_summary() { # switch
    local f="$WORK/$1.perf" total
    [ -s "$f" ] || return 0
    cp "$f" "/tmp/bench-last-$1.perf"
    echo "**$1** (PMD thread; self time by where it runs, then the largest functions, then inclusive shares of the paths that matter):"
    echo
    echo '```text'
    # (awk, not head: with pipefail, head closing the pipe early would fail the pipeline)
    perf report -i "$f" -g none --no-children --sort dso --stdio 2>/dev/null | awk '/^ +[0-9]/ && n++ < 5'
    echo "--"
    perf report -i "$f" -g none --no-children --sort dso,sym --stdio 2>/dev/null | awk '/^ +[0-9]/ && n++ < 14'
    echo "--"
    perf report -i "$f" -g none --children --sort sym --stdio 2>/dev/null |
        awk '/^ +[0-9]/ && $NF ~ /^(__libc_sendto|__sendto|xsk_sendmsg|__xsk_generic_xmit|__dev_direct_xmit|veth_xmit|do_softirq|net_rx_action|process_backlog|tpacket_rcv|ip_rcv|sock_alloc_send_pskb|__poll|__libc_poll|xsk_poll|__libc_recvfrom)(\.[a-z0-9.]+)?$/ && n++ < 16' 
    echo '```'
    echo
}

# One measurement. Appends a row to $RESULTS.
point() { # round switch scenario size flows
    local round="$1" sw="$2" scen="$3" size="$4" flows="$5" line t0 t1 s0 s1 d0 d1 churned=0 churn_s rate="$RATE"
    [ "$scen" = paced ] && rate="$PACED_RATE"
    [ "$scen" = churn ] && { echo 0 >"$WORK/churn"; churn_s=$(awk -v d="$DURATION" 'BEGIN { printf "%d", d + 1.999 }'); churn_loop "$sw" "$churn_s" & CHURN_PID=$!; }
    PROFILE_PID=""
    if [ "$PROFILE" = 1 ] && [ "$sw" != xdp-fwd ] && [ "$round" = 1 ] && [ "$scen" = p2p ] && [ "$size" = 64 ] && [ -n "$SWITCH_PID" ]; then
        # From 1 s in until 1 s before the end: the steady state.
        (sleep 1; profile_start "$sw" "$SWITCH_PID" "$(awk -v d="$DURATION" 'BEGIN { printf "%d", (d > 3 ? d - 2 : 1) }')"; wait) &
        PROFILE_PID=$!
    fi
    d0=$(veth_drops); t0=$(proc_ticks "$SWITCH_PID"); s0=$(softirq_ticks)
    line=$(vsbench_run "$size" "$flows" "$rate" "$DURATION")
    [ -z "$PROFILE_PID" ] || wait "$PROFILE_PID" 2>/dev/null || true
    t1=$(proc_ticks "$SWITCH_PID"); s1=$(softirq_ticks); d1=$(veth_drops)
    if [ "$scen" = churn ]; then
        stop_churn
        churned=$(awk -v c="$(cat "$WORK/churn")" -v s="$churn_s" 'BEGIN { printf "%.0f", c / s }')
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$sw" "$scen" "$size" "$flows" \
        "$(awk -v t=$((t1 - t0)) -v hz="$HZ" 'BEGIN { printf "%.3f", t / hz }')" \
        "$(awk -v t=$((s1 - s0)) -v hz="$HZ" 'BEGIN { printf "%.3f", t / hz }')" \
        "$churned" "$line veth_drops=$((d1 - d0))" >>"$RESULTS"
    # Our switch's own account of the frames it dropped, for the report's diagnosis.
    [ "$sw" = ours ] && { echo "== round $round $scen ${size}B"; ours dump-drops br0; ours dump-ports br0; } >>"$WORK/ours-drops.txt" 2>&1
    log "round $round $sw $scen ${size}B ${flows} flows: $(field "$line" delivered_pps) pps forwarded of $(field "$line" offered_pps) offered"
}
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

# Runs function $1 (point or zero_loss_search) for every point of a scenario.
scenario_points() { # function round switch scenario
    local fn="$1"; shift
    case "$3" in
        p2p) for s in $SIZES; do "$fn" "$1" "$2" p2p "$s" 1; done ;;
        acl) "$fn" "$1" "$2" acl 64 1000 ;;
        flows10k) "$fn" "$1" "$2" flows10k 64 10000 ;;
        churn) "$fn" "$1" "$2" churn 64 1000 ;;
        paced) [ "$fn" != point ] || "$fn" "$1" "$2" paced 64 1000 ;;
    esac
}

# --- zero-loss rate search (--zero-loss) --------------------------------------------------------
# One trial at a paced rate (0: flat out), with the churn loop running in the churn scenario.
# Prints vsbench's line.
zl_trial() { # switch scenario size flows rate seconds
    local line churn_s
    if [ "$2" = churn ]; then
        echo 0 >"$WORK/churn"
        churn_s=$(awk -v d="$6" 'BEGIN { printf "%d", d + 1.999 }')
        churn_loop "$1" "$churn_s" & CHURN_PID=$!
    fi
    line=$(vsbench_run "$3" "$4" "$5" "$6")
    [ "$2" = churn ] && stop_churn
    echo "$line"
}
# Whether a vsbench line lost at most ZL_TOL percent of what it sent (and sent something).
zl_pass() {
    awk -v s="$(field "$1" sent)" -v r="$(field "$1" received)" -v t="$ZL_TOL" \
        'BEGIN { s += 0; r += 0; lost = (s > r ? s - r : 0); exit !(s > 0 && lost * 100 <= t * s) }'
}
# Appends "round switch scenario size flows rate bound trials log lowest-failed" to
# $WORK/zeroloss.tsv, where bound is "gen" when the figure is the generator's ceiling (a lower
# bound) and "switch" when the switch lost frames above it; log lists every trial as
# target:offered:lost; rate 0 means no rate tried passed (all lost frames down to lowest-failed).
zero_loss_search() { # round switch scenario size flows
    local round="$1" sw="$2" scen="$3" size="$4" flows="$5"
    local line lo=0 hi guess r off lost bound=switch trials=0 tlog="" deadline flat
    deadline=$(( $(date +%s) + ZL_BUDGET ))
    line=$(zl_trial "$sw" "$scen" "$size" "$flows" 0 "$ZL_TRIAL")
    off=$(field "$line" offered_pps); off=${off:-0}
    lost=$(awk -v s="$(field "$line" sent)" -v r="$(field "$line" received)" 'BEGIN { print (s > r ? s - r : 0) + 0 }')
    tlog="flat:$off:$lost"
    flat=$off
    if [ "$line" != failed ] && zl_pass "$line"; then
        lo=$off; bound=gen
    else
        # A switch does not sustain much more without loss than it forwarded flat out, at 100%
        # of its core: the search stays below 1.05 times that (the offered rate if lower).
        hi=$(awk -v o="$off" -v d="$(field "$line" delivered_pps)" 'BEGIN { h = (d + 0) * 1.05; if (h > o + 0 || h < 1000) h = o + 0; printf "%d", h }')
        # First probe just under what the switch forwarded flat out: the zero-loss rate is rarely
        # above it, and often close.
        guess=$(awk -v d="$(field "$line" delivered_pps)" 'BEGIN { printf "%d", (d + 0) * 0.95 }')
        while [ "$trials" -lt "$ZL_ITERS" ] && [ "$(date +%s)" -lt "$deadline" ] &&
              awk -v lo="$lo" -v hi="$hi" 'BEGIN { w = hi * 0.01; if (w < 1000) w = 1000; exit !(hi - lo > w) }'; do
            if [ "$trials" = 0 ] && [ "$guess" -gt "$lo" ] && [ "$guess" -lt "$hi" ]; then r=$guess
            else r=$(( (lo + hi) / 2 )); fi
            [ "$r" -ge 1000 ] || break
            local try=0 pass=0
            while :; do
                line=$(zl_trial "$sw" "$scen" "$size" "$flows" "$r" "$ZL_TRIAL")
                off=$(field "$line" offered_pps); off=${off:-0}
                lost=$(awk -v s="$(field "$line" sent)" -v r="$(field "$line" received)" 'BEGIN { print (s > r ? s - r : 0) + 0 }')
                tlog="$tlog $([ "$try" = 0 ] || echo "(retry)")$r:$off:$lost"
                if [ "$line" != failed ] && zl_pass "$line"; then pass=1; break; fi
                try=$((try + 1))
                [ "$try" -le "$ZL_RETRIES" ] || break
            done
            trials=$((trials + 1))
            if [ "$pass" = 1 ]; then
                if awk -v o="$off" -v r="$r" 'BEGIN { exit !(o < 0.97 * r) }'; then
                    # The generator fell short of the target and the switch lost nothing. Near
                    # what the generator sent flat out, that is its ceiling: the switch is not the
                    # limit here, the generator is. Further below, the generator was starved of
                    # CPU for a moment: the switch passed at the rate actually sent.
                    if awk -v r="$r" -v f="$flat" 'BEGIN { exit !(r >= 0.9 * f) }'; then
                        lo=$off; bound=gen; break
                    fi
                    [ "${off%.*}" -gt "$lo" ] && lo=${off%.*}
                    continue
                fi
                lo=$r
            else
                hi=$r
            fi
        done
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$sw" "$scen" "$size" "$flows" "$lo" "$bound" "$trials" "$tlog" "${hi:-0}" >>"$WORK/zeroloss.tsv"
    log "round $round $sw $scen ${size}B ${flows} flows: zero loss up to $lo pps ($bound; trials $tlog)"
}
# Our switch at the rate Open vSwitch sustained without loss in round $1, every point once, for
# DURATION seconds; appends "round scenario size flows rate line" to $WORK/atovs.tsv.
at_ovs_rate() { # round
    local round="$1" scen size flows rate line
    grep -q "^$round	ovs	" "$WORK/zeroloss.tsv" 2>/dev/null || return 0
    grep -q "^$round	ours	" "$WORK/zeroloss.tsv" || return 0
    if ! start_switch_retry ours "$round"; then
        echo "ours at OVS's zero-loss rate, round $round: did not start" >>"$WORK/notrun"
        stop_switch ours
        return 0
    fi
    for scen in $SCENARIOS; do
        load_rules ours "$scen" 2>>"$WORK/ours.err" || continue
        awk -F'\t' -v r="$round" -v sc="$scen" '$1 == r && $2 == "ovs" && $3 == sc { print $4, $5, $6 }' "$WORK/zeroloss.tsv" |
        while read -r size flows rate; do
            [ "$rate" -ge 1000 ] || continue
            line=$(zl_trial ours "$scen" "$size" "$flows" "$rate" "$DURATION")
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$scen" "$size" "$flows" "$rate" "$line" >>"$WORK/atovs.tsv"
            log "round $round ours at OVS's zero-loss rate $rate ($scen ${size}B): loss $(field "$line" loss_pct)% ($(field "$line" sent) sent, $(field "$line" received) received)"
        done
    done
    stop_switch ours
}

# --- run ----------------------------------------------------------------------------------------
setup_net
: >"$RESULTS"
: >"$WORK/generator.tsv"
: >"$WORK/notrun"
: >"$WORK/zeroloss.tsv"
: >"$WORK/atovs.tsv"
LOAD0="$(cut -d' ' -f1-3 /proc/loadavg)"
[ "$GEN_CHECK" = 0 ] || generator_compare
if [ "$GEN_ONLY" = 0 ]; then
    write_rules
    for round in $(seq "$ROUNDS"); do
        for sw in $SWITCHES; do
            if ! start_switch_retry "$sw" "$round"; then
                log "$sw: could not start (round $round): $(tail -3 "$WORK/$sw.err" | tr '\n' ' ')"
                echo "$sw round $round: $(tail -3 "$WORK/$sw.err" | tr '\n' ' ')" >>"$WORK/notrun"
                stop_switch "$sw"
                continue
            fi
            for scen in $SCENARIOS; do
                # A saturated PMD thread never naps: ours-nap differs from ours only when paced.
                [ "$sw" != ours-nap ] || [ "$scen" = paced ] || continue
                [ "$sw" != ours-xsk ] || [ "$scen" = p2p ] || continue
                # The ceiling has no rules: only port to port means anything for it.
                [ "$sw" != xdp-fwd ] || [ "$scen" = p2p ] || continue
                if load_rules "$sw" "$scen" 2>>"$WORK/$sw.err"; then
                    scenario_points point "$round" "$sw" "$scen"
                    [ "$ZERO_LOSS" = 0 ] || scenario_points zero_loss_search "$round" "$sw" "$scen"
                else
                    log "$sw: rules for $scen not loaded: $(tail -2 "$WORK/$sw.err" | tr '\n' ' ')"
                    echo "$sw $scen round $round: rules not loaded" >>"$WORK/notrun"
                fi
            done
            stop_switch "$sw"
            sleep 1
        done
        [ "$ZERO_LOSS" = 0 ] || at_ovs_rate "$round"
    done
fi
LOAD1="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- report -------------------------------------------------------------------------------------
# Per (scenario, size, switch): mean over rounds of offered pps, forwarded pps, loss, latency
# p50/p99, CPU ns per forwarded packet; then the ratios of ours to each peer.
TABLE="$WORK/table.md"
{
    echo "### $(date -u '+%Y-%m-%d %H:%M UTC') — $(nproc) cores, kernel $(uname -r), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD 2>/dev/null || echo '+dirty')"
    echo
    echo "\`scripts/bench.sh --duration $DURATION --rounds $ROUNDS$([ "$RATE" = 0 ] || echo " --rate $RATE")$([ "$ZERO_LOSS" = 0 ] || echo " --zero-loss --zl-trial $ZL_TRIAL --zl-iters $ZL_ITERS --zl-tolerance $ZL_TOL --zl-retries $ZL_RETRIES")$([ "$TX_THREADS" = 1 ] || echo " --tx-threads $TX_THREADS") --tx-mode $TX_MODE --sink $SINK$([ "$PIN" = 1 ] || echo " --no-pin")$([ "$PROFILE" = 0 ] || echo " --profile")$(grep -qw paced <<<"$SCENARIOS" && echo " --paced-rate $PACED_RATE")$(grep -qw ours-nap <<<"$SWITCHES" && echo " --nap-us $NAP_US") --scenarios \"$SCENARIOS\" --sizes \"$SIZES\"\` (switches: $SWITCHES; $([ "$RATE" = 0 ] && echo "flat out, generator mode $TX_MODE" || echo "at $RATE frames/s")), $(lscpu 2>/dev/null | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2 }' | head -1)."
    echo "Load average before/after: $LOAD0 / $LOAD1 (the machine is shared: figures are noisy)."
    echo
    if [ -s "$WORK/generator.tsv" ]; then
        echo "Generator (bare veth pair, one sending thread, $DURATION s, 2 runs each alternating; frames/s reaching the peer, and frames per CPU second of the generator process; vsbench through a socket and with XDP live frames, its default mode):"
        echo
        echo "| frame | vsbench socket pps | vsbench xdp pps | trafgen pps | socket frames/CPU s | xdp frames/CPU s | trafgen frames/CPU s | socket vs trafgen per CPU s | xdp vs trafgen pps |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
        awk -F'\t' '{ s[$3, $2] += $4; c[$3, $2] += $5; n[$3, $2]++; sz[$3] = 1 }
            function pps(z, t) { return n[z, t] ? s[z, t] / n[z, t] : 0 }
            function pcs(z, t) { return c[z, t] > 0 ? s[z, t] * '"$DURATION"' / c[z, t] : 0 }
            END { for (z in sz) {
                  printf "| %dB | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f |\n", z, pps(z, "vsbench"), pps(z, "vsbench-xdp"), pps(z, "trafgen"),
                      pcs(z, "vsbench"), pcs(z, "vsbench-xdp"), pcs(z, "trafgen"),
                      (pcs(z, "trafgen") > 0 ? pcs(z, "vsbench") / pcs(z, "trafgen") : 0), (pps(z, "trafgen") > 0 ? pps(z, "vsbench-xdp") / pps(z, "trafgen") : 0) } }' "$WORK/generator.tsv" | sort -t'|' -k2 -n
        echo
    fi
    if [ -s "$RESULTS" ]; then
        echo "| scenario | frame | flows | switch | offered pps | forwarded pps | loss (of which veth drops) | lat p50/p99 µs | switch CPU ns/pkt | softirq ns/pkt | fwd vs OVS | fwd vs kernel | switch CPU/pkt vs OVS |"
        echo "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        awk -F'\t' '
        function kv(line, key,   a, i, n, p) { n = split(line, a, " "); for (i = 1; i <= n; i++) { split(a[i], p, "="); if (p[1] == key) return p[2] } return "" }
        {
            k = $3 SUBSEP $4 SUBSEP $5; sw = $2; keys[k] = 1
            fwd = kv($9, "received"); sent = kv($9, "sent")
            n[k, sw]++
            off[k, sw] += kv($9, "offered_pps"); dp[k, sw] += kv($9, "delivered_pps")
            loss[k, sw] += kv($9, "loss_pct"); vd[k, sw] += kv($9, "veth_drops"); st[k, sw] += sent; p50[k, sw] += kv($9, "lat_p50_us"); p99[k, sw] += kv($9, "lat_p99_us")
            cpu[k, sw] += $6; sirq[k, sw] += $7; pk[k, sw] += fwd; ch[k, sw] += $8
        }
        END {
            order["p2p"] = 1; order["acl"] = 2; order["flows10k"] = 3; order["churn"] = 4; order["paced"] = 5
            for (k in keys) {
                split(k, f, SUBSEP)
                for (si = 1; si <= 6; si++) {
                    sw = (si == 1 ? "ours" : si == 2 ? "ours-xsk" : si == 3 ? "ours-nap" : si == 4 ? "ovs" : si == 5 ? "kernel" : "xdp-fwd")
                    if (!n[k, sw]) continue
                    c = n[k, sw]
                    cpp = (pk[k, sw] > 0 ? cpu[k, sw] / pk[k, sw] * 1e9 : 0)
                    spp = (pk[k, sw] > 0 ? sirq[k, sw] / pk[k, sw] * 1e9 : 0)
                    r1 = r2 = r3 = "–"
                    mine = (sw == "ours" || sw == "ours-nap" || sw == "ours-xsk")
                    if ((mine || sw == "xdp-fwd") && n[k, "ovs"] && dp[k, "ovs"] > 0) r1 = sprintf("%.2fx", dp[k, sw] / dp[k, "ovs"])
                    if (mine && n[k, "kernel"] && dp[k, "kernel"] > 0) r2 = sprintf("%.2fx", dp[k, sw] / dp[k, "kernel"])
                    if (mine && n[k, "ovs"] && pk[k, "ovs"] > 0 && cpp > 0) r3 = sprintf("%.2fx", cpp / (cpu[k, "ovs"] / pk[k, "ovs"] * 1e9))
                    name = f[1] (f[1] == "churn" ? sprintf(" (%.0f changes/s)", ch[k, sw] / c) : f[1] == "paced" ? sprintf(" at %.0fk/s", pr / 1000) : "")
                    printf "%d %05d %s | %s | %dB | %d | %s | %.0f | %.0f | %.2f%% (%.2f%%) | %.0f / %.0f | %s | %.0f | %s | %s | %s |\n",
                        order[f[1]], f[2], si, name, f[2], f[3], sw, off[k, sw] / c, dp[k, sw] / c, loss[k, sw] / c,
                        (st[k, sw] > 0 ? 100 * vd[k, sw] / st[k, sw] : 0), p50[k, sw] / c, p99[k, sw] / c, (sw == "kernel" || sw == "xdp-fwd" ? "–" : sprintf("%.0f", cpp)), spp, r1, r2, r3
                }
            }
        }' pr="$PACED_RATE" "$RESULTS" | sort -k1,1n -k2,2n -k3,3n | cut -d' ' -f4-
        echo
    fi
    if [ -s "$WORK/zeroloss.tsv" ]; then
        echo "Zero-loss rate (\`--zero-loss\`: highest paced rate with at most $ZL_TOL% loss over a $ZL_TRIAL s trial (a trial that lost frames repeated up to $ZL_RETRIES times, passing if a repeat is clean), at most $ZL_ITERS paced rates after a flat-out trial; mean over rounds, each round's figure in brackets; \">=\": the switch lost nothing at the generator's ceiling, so the figure is a lower bound; \"<N\": every rate tried lost frames, down to N, and the round counts as 0 in the mean). Last column: our switch at Open vSwitch's zero-loss rate of the same round, $DURATION s per round:"
        echo
        echo "| scenario | frame | flows | switch | zero-loss pps | vs OVS | ours' loss at OVS's zero-loss rate |"
        echo "|---|---:|---:|---|---:|---:|---:|"
        awk -F'\t' '
        function kv(line, key,   a, i, n, p) { n = split(line, a, " "); for (i = 1; i <= n; i++) { split(a[i], p, "="); if (p[1] == key) return p[2] } return "" }
        FNR == NR { k = $3 SUBSEP $4 SUBSEP $5; keys[k] = 1; sw = $2
                    n[k, sw]++; sum[k, sw] += $6; if ($7 == "gen") gen[k, sw] = 1
                    each[k, sw] = each[k, sw] (n[k, sw] > 1 ? " / " : "") ($6 > 0 ? $6 : "<" $10) ($7 == "gen" ? "+" : ""); next }
        { k = $2 SUBSEP $3 SUBSEP $4; sent[k] += kv($6, "sent"); recv[k] += kv($6, "received"); nat[k]++
          rates[k] = rates[k] (nat[k] > 1 ? ", " : "") $5 }
        END {
            order["p2p"] = 1; order["acl"] = 2; order["flows10k"] = 3; order["churn"] = 4
            for (k in keys) {
                split(k, f, SUBSEP)
                for (si = 1; si <= 5; si++) {
                    sw = (si == 1 ? "ours" : si == 2 ? "ours-xsk" : si == 3 ? "ovs" : si == 4 ? "kernel" : "xdp-fwd")
                    if (!n[k, sw]) continue
                    m = sum[k, sw] / n[k, sw]
                    ratio = "–"; at = "–"
                    if ((sw == "ours" || sw == "ours-xsk" || sw == "xdp-fwd") && n[k, "ovs"] && sum[k, "ovs"] > 0) {
                        mo = sum[k, "ovs"] / n[k, "ovs"]
                        if (gen[k, sw] && gen[k, "ovs"]) ratio = "– (both at the generator)"
                        else ratio = sprintf("%s%.2fx", gen[k, sw] ? ">=" : gen[k, "ovs"] ? "<=" : "", m / mo)
                    }
                    if (sw == "ours" && nat[k]) {
                        lost = (sent[k] > recv[k] ? sent[k] - recv[k] : 0)
                        at = sprintf("%.3f%% (%d of %d frames; at %s pps)", (sent[k] > 0 ? 100 * lost / sent[k] : 0), lost, sent[k], rates[k])
                    }
                    printf "%d %05d %s | %s | %dB | %d | %s | %s%.0f (%s) | %s | %s |\n", order[f[1]], f[2], si, f[1], f[2], f[3], sw,
                        (gen[k, sw] ? ">=" : ""), m, each[k, sw], ratio, at
                }
            }
        }' "$WORK/zeroloss.tsv" "$WORK/atovs.tsv" | sort -k1,1n -k2,2n -k3,3n | cut -d' ' -f4-
        echo
        echo "Trials (target:offered:lost frames, first the flat-out one):"
        echo
        awk -F'\t' '{ printf "- round %s %s %s %sB: %s\n", $1, $2, $3, $4, $9 }' "$WORK/zeroloss.tsv"
        echo
    fi
    if [ "$PROFILE" = 1 ]; then
        echo "Profile (\`--profile\`: \`perf record -g\` on the PMD thread during round 1's flat-out p2p 64-byte point):"
        echo
        for sw in $SWITCHES; do profile_summary "$sw"; done
    fi
    if [ -s "$WORK/notrun" ]; then
        echo "Not run:"
        sed 's/^/- /' "$WORK/notrun"
        echo
    fi
} >"$TABLE"
cat "$TABLE"
cp "$RESULTS" "/tmp/bench-last-results.tsv"
cp "$WORK/generator.tsv" "/tmp/bench-last-generator.tsv"
cp "$WORK/zeroloss.tsv" /tmp/bench-last-zeroloss.tsv
cp "$WORK/atovs.tsv" /tmp/bench-last-atovs.tsv
[ -f "$WORK/ours-drops.txt" ] && cp "$WORK/ours-drops.txt" /tmp/bench-last-ours-drops.txt

if [ "$WRITE" = 1 ]; then
    DOC="$ROOT/docs/PERFORMANCE.md"
    grep -q '^## End-to-end results' "$DOC" || printf '\n## End-to-end results\n\nNewest first; written by `scripts/bench.sh`.\n' >>"$DOC"
    # The new table goes right after the section's introduction, above earlier results.
    awk -v table="$TABLE" '
        { print }
        /^## End-to-end results/ { insec = 1; next }
        insec && /^Newest first/ { print ""; while ((getline l < table) > 0) print l; insec = 0 }
    ' "$DOC" >"$WORK/doc" && cat "$WORK/doc" >"$DOC"
    log "results written to docs/PERFORMANCE.md"
fi
