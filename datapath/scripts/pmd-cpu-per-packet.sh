#!/bin/bash
# CPU time per forwarded packet of the datapath's PMD thread between two afxdp ports.
#
# Runs the `afxdp_forwarding_rate` measurement of tests/tests/netns_ports.rs (root; a release
# build of that test binary) under `perf record`, then divides the PMD thread's samples (user
# and kernel apart) by the packets it forwarded. On a shared machine the forwarded rate is a
# matter of CPU share; CPU per packet is the figure to compare, ideally A/B in one run:
#
#   cargo test --release -p tests --test netns_ports --no-run    # prints the binary's path
#   datapath/scripts/pmd-cpu-per-packet.sh BINARY [LABEL]
#
# Prints, per XDP mode, the forwarded rate and the PMD's CPU per packet, then the bare port
# loop's own figures (from the test's output) for comparison.
set -euo pipefail
bin=${1:?usage: $0 NETNS_PORTS_TEST_BINARY [LABEL]}
label=${2:-run}
hz=1999
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
perf record -q -o "$dir/perf.data" -F "$hz" -- "$bin" afxdp_forwarding_rate --ignored \
    --nocapture 2>&1 | grep -E "forwarded" > "$dir/out.txt"
# The PMD threads (one per datapath run, in start order: native, then skb).
perf report -i "$dir/perf.data" --sort pid -n --stdio 2>/dev/null |
    awk '/pmd0-br0/ { split($3, a, ":"); print a[1] }' | sort -n > "$dir/tids.txt"
i=0
grep '^datapath' "$dir/out.txt" | while read -r line; do
    i=$((i + 1))
    tid=$(sed -n "${i}p" "$dir/tids.txt")
    fwd=$(sed -E 's/.*forwarded ([0-9]+) pps.*/\1/' <<< "$line")
    mode=$(sed -E 's/datapath, afxdp ([a-z]+):.*/\1/' <<< "$line")
    perf script -i "$dir/perf.data" --tid "$tid" -F ip,dso 2>/dev/null |
        awk -v f="$fwd" -v m="$mode" -v l="$label" -v hz="$hz" '
            { if ($0 ~ /kernel/) k++; else u++ }
            END { n = f * 3; if (n == 0) n = 1
                  printf "%s datapath %s: forwarded %d pps; PMD CPU %.0f ns/packet (kernel %.0f, user %.0f)\n",
                         l, m, f, (k + u) / hz / n * 1e9, k / hz / n * 1e9, u / hz / n * 1e9 }'
done
sed -nE 's/^port loop, afxdp ([a-z]+):.*forwarded ([0-9]+) pps.*loop CPU ([0-9]+) ns.*/'"$label"' port loop \1: forwarded \2 pps; loop CPU \3 ns\/packet/p' "$dir/out.txt"
