#!/usr/bin/env bash
# cluster.sh -- ingest through HAProxy (deploy/haproxy.cfg) to 1 and to 3 nodes, next to one
# node without HAProxy, in the same run; prints the ratios and appends them to a CSV.
#
# usage: bench/cluster.sh [HOOKGATE_BINARY]
# env:   HOOKGATE (default build/hookgate), DURATION seconds per run (8), CONNS (64),
#        THREADS wrk threads (2), QUIESCE_MAX seconds to wait for the delivery backlog
#        between runs (20), BENCH_BIN (build/bench), OUT (CSV file, default
#        bench/results/cluster-<UTC date>.csv; three rows per run are appended), KEEP_TMP=1
#        keeps logs and data.
#
# Every request carries an Idempotency-Key (WRK_KEY_HEADER=1), so HAProxy hashes as in
# production. The nodes and HAProxy share the server CPUs, wrk and the sink the client CPUs:
# on a 2-core machine three nodes compete for one core with the balancer, so this measures
# what the balancer costs, not how hookgate scales (see the arithmetic printed at the end).
set -u
source "$(dirname "$0")/lib.sh"

HOOKGATE=${1:-${HOOKGATE:-$ROOT/build/hookgate}}
DURATION=${DURATION:-8}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
QUIESCE_MAX=${QUIESCE_MAX:-20}
require_bins sink
command -v wrk >/dev/null || { log "wrk not found"; exit 2; }
command -v haproxy >/dev/null || { log "haproxy not found (apt-get install haproxy)"; exit 2; }
[[ -x $HOOKGATE ]] || { log "$HOOKGATE is not executable"; exit 2; }

sink_port=$(free_port) || exit 1
SINK_URL="http://127.0.0.1:$sink_port"
spawn "${CLIENT_PIN[@]}" "$BENCH_BIN/sink" --listen "127.0.0.1:$sink_port" --max-seconds 3600 \
    >"$BENCH_TMP/sink.out" 2>"$BENCH_TMP/sink.err"
wait_http "$SINK_URL/count" 10 || { log "sink did not start: $(cat "$BENCH_TMP/sink.err")"; exit 1; }

# Every node: one subscriber on the sink, as in the other ingest benchmarks.
cat >"$BENCH_TMP/node.json.in" <<EOF
{
  "listen": "127.0.0.1:@PORT@",
  "data_dir": "@DATA_DIR@",
  "map_size_mb": 16384,
  "subscribers": [
    { "name": "bench1", "url": "$SINK_URL/s1", "events": ["message_created"], "max_in_flight": 64 }
  ]
}
EOF

# Starts N nodes plus HAProxy through deploy/cluster.sh; sets LB_PORT and NODE1_PORT.
cluster_start() {
    local n=$1
    LB_PORT=$(free_port) || exit 1
    NODE1_PORT=$(free_port) || exit 1
    local i
    # cluster.sh gives node i port BASE+i-1: reserve the ports after the first as well.
    for ((i = 1; i < n; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$((NODE1_PORT + i))") 2>/dev/null &&
            { log "port $((NODE1_PORT + i)) is taken"; exit 1; }
    done
    CLUSTER_DIR=$BENCH_TMP/cluster$n CLUSTER_LB_PORT=$LB_PORT CLUSTER_BASE_PORT=$NODE1_PORT \
        CLUSTER_TEMPLATE=$BENCH_TMP/node.json.in CLUSTER_PIN="${SERVER_PIN[*]}" \
        HOOKGATE=$HOOKGATE "$ROOT/deploy/cluster.sh" start "$n" >"$BENCH_TMP/cluster$n.out" 2>&1 ||
        { log "cluster of $n did not start: $(cat "$BENCH_TMP/cluster$n.out")"; exit 1; }
    CLUSTER_RUNNING=$n
}

cluster_stop() {
    CLUSTER_DIR=$BENCH_TMP/cluster$1 "$ROOT/deploy/cluster.sh" stop >/dev/null 2>&1
    CLUSTER_RUNNING=""
}
CLUSTER_RUNNING=""
trap '[[ -n $CLUSTER_RUNNING ]] && cluster_stop "$CLUSTER_RUNNING"; bench_cleanup' EXIT

declare -A RPS P50 P99 NOTES
# Runs wrk against URL and records the result under label. Args: label url
run_wrk() {
    local label=$1 url=$2 out res non2xx
    quiesce "$sink_port"
    out=$(WRK_KEY_HEADER=1 WRK_RUN_ID="c$RANDOM$RANDOM$label" timeout $((DURATION + 30)) \
        "${CLIENT_PIN[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s \
        -s "$BENCH_DIR/post_event.lua" "$url/events" 2>&1)
    printf '%s\n' "$out" >"$BENCH_TMP/wrk-$label.txt"
    res=$(grep '^WRK_RESULT' <<<"$out")
    non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' <<<"$out")
    RPS[$label]=$(kv "$res" rps)
    P50[$label]=$(kv "$res" p50_ms)
    P99[$label]=$(kv "$res" p99_ms)
    NOTES[$label]=""
    [[ -z $res ]] && NOTES[$label]="wrk failed: $(tail -1 <<<"$out")"
    [[ -n $non2xx ]] && NOTES[$label]="NON-2XX: $non2xx"
}

echo "cluster ingest benchmark: wrk -t$THREADS -c$CONNS, ${DURATION}s per run, ~600-byte envelopes with Idempotency-Key"
machine_note

cluster_start 1
run_wrk direct "http://127.0.0.1:$NODE1_PORT"
run_wrk lb1 "http://127.0.0.1:$LB_PORT"
cluster_stop 1
cluster_start 3
run_wrk lb3 "http://127.0.0.1:$LB_PORT"
# How the keys spread over the three nodes (each node's received count).
spread=""
for ((i = 0; i < 3; i++)); do
    n=$(curl -s -m 2 "http://127.0.0.1:$((NODE1_PORT + i))/metrics" |
        sed -n 's/^hookgate_events_received_total \([0-9.e+]*\)$/\1/p')
    spread+="${spread:+/}${n%.*}"
done
cluster_stop 3

csv_open cluster "target,nodes,conns,rps,p50_ms,p99_ms,ratio,notes"
echo
printf '%-22s | %5s | %9s | %8s | %8s | %6s | %s\n' target nodes "req/s" "p50 ms" "p99 ms" ratio notes
printf '%s\n' "-----------------------+-------+-----------+----------+----------+--------+------"
for label in direct lb1 lb3; do
    case $label in
    direct) name="one node, no balancer"; nodes=1 ;;
    lb1) name="HAProxy -> 1 node"; nodes=1 ;;
    lb3) name="HAProxy -> 3 nodes"; nodes=3 ;;
    esac
    r=$(ratio "${RPS[$label]}" "${RPS[direct]}")
    [[ $label == direct ]] && r=1.00
    notes=${NOTES[$label]}
    [[ $label == lb3 ]] && notes+="${notes:+; }received per node: $spread"
    printf '%-22s | %5s | %9s | %8s | %8s | %6s | %s\n' "$name" "$nodes" "${RPS[$label]}" \
        "${P50[$label]}" "${P99[$label]}" "$r" "$notes"
    csv_row "$label" "$nodes" "$CONNS" "${RPS[$label]}" "${P50[$label]}" "${P99[$label]}" "$r" "$notes"
done
echo "ratio = req/s / req/s of the node without a balancer"
echo "CSV: $CSV_FILE"

# The arithmetic for N machines: each node ingests what one node does alone (they share
# nothing); the balancer adds its CPU per request, estimated from the 1-node runs as the
# difference in CPU-seconds per request on the shared server core.
awk -v d="${RPS[direct]}" -v l="${RPS[lb1]}" -v cpus="${SERVER_CPUS:-all}" 'BEGIN {
    if (d + 0 == 0 || l + 0 == 0) exit
    printf "\nEvery node and HAProxy above share the server CPUs (%s), so the 3-node row shows\n", cpus
    printf "contention and the balancer'"'"'s cost, not scaling. For N machines, one node each:\n"
    printf "  per node: %.0f events/s (the row without a balancer)\n", d
    c = 1 / l - 1 / d
    if (c > 0) {
        printf "  balancer: %.1f us of server CPU per request here (1/%.0f - 1/%.0f), so one\n", c * 1e6, l, d
        printf "            HAProxy core forwards at most ~%.0f requests/s\n", 1 / c
        printf "  N nodes:  min(N x %.0f, cores of the balancer x %.0f) events/s,\n", d, 1 / c
        printf "            e.g. N=3: %.0f, N=10: %.0f with a 1-core balancer\n", (3 * d < 1 / c ? 3 * d : 1 / c), (10 * d < 1 / c ? 10 * d : 1 / c)
    } else {
        printf "  balancer: no measurable cost in this run\n  N nodes:  about N x %.0f events/s\n", d
    }
    printf "  Batches (up to 1000 envelopes per request) divide the balancer'"'"'s per-event cost.\n"
}'
exit 0
