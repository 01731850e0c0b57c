#!/usr/bin/env bash
# latency.sh -- end-to-end latency: time from an event's 202 at the producer to its arrival at the subscriber,
# at a steady ingest rate.
#
# usage: bench/latency.sh [HOOKGATE_BINARY]
# env:   HOOKGATE (default build/hookgate), RATE events/s (5000), DURATION seconds (10),
#        CONNS producer connections (16), BENCH_BIN (build/bench), OUT (CSV file, default
#        bench/results/latency-<UTC date>.csv; one row per run is appended), KEEP_TMP=1 keeps the logs.
# Exit status: 0 measured, 1 failed, 77 skipped (hookgate missing or not working).
set -u
source "$(dirname "$0")/lib.sh"

HOOKGATE=${1:-${HOOKGATE:-$ROOT/build/hookgate}}
RATE=${RATE:-5000}
DURATION=${DURATION:-10}
CONNS=${CONNS:-16}
require_bins sink paced_post
COUNT=$(awk -v r="$RATE" -v d="$DURATION" 'BEGIN { printf "%d", r * d }')

echo "latency benchmark: $COUNT events at $RATE events/s over $CONNS connections, 1 subscriber"
machine_note

sink_port=$(free_port) || exit 1
hg_port=$(free_port) || exit 1
spawn "${CLIENT_PIN[@]}" "$BENCH_BIN/sink" --listen "127.0.0.1:$sink_port" --latency-log "$BENCH_TMP/sink.log" \
    --max-seconds $((DURATION + 600)) >"$BENCH_TMP/sink.out" 2>"$BENCH_TMP/sink.err"
SINK_PID=$LAST_PID
wait_http "http://127.0.0.1:$sink_port/count" 10 || { log "sink did not start: $(cat "$BENCH_TMP/sink.err")"; exit 1; }

mkdir -p "$BENCH_TMP/hg-data"
write_config "$BENCH_TMP/hookgate.json" "127.0.0.1:$hg_port" "$BENCH_TMP/hg-data" '{}' \
    "$(subscribers_json 1 "$sink_port" 64)"
if ! start_hookgate "$BENCH_TMP/hookgate.json" "$hg_port" "$BENCH_TMP/hookgate.log"; then
    echo "hookgate $HG_WHY -- skipped (this benchmark has no ceiling run)"
    exit 77
fi
if [[ $(probe_post "$HG_URL" "probe$RANDOM$RANDOM") != 202 ]]; then
    echo "hookgate does not answer POST /events with 202 -- skipped"
    exit 77
fi

ingest=$(timeout $((DURATION * 3 + 60)) "${CLIENT_PIN[@]}" "$BENCH_BIN/paced_post" --url "$HG_URL/events" \
    --count "$COUNT" --rate "$RATE" --connections "$CONNS" --log "$BENCH_TMP/ingest.log" \
    --id-prefix "l$RANDOM$RANDOM" --timeout-s $((DURATION * 3 + 30)) 2>&1)
echo "$ingest"
ok=$(kv "$(grep '^paced_post:' <<<"$ingest")" ok)
ok=${ok:-0}

# Wait (bounded) until the sink has seen every acknowledged event plus the probe, then stop it so
# its log is flushed.
target=$((ok + 1))
for ((i = 0; i < 600; i++)); do
    count=$(curl -s -m 2 "http://127.0.0.1:$sink_port/count")
    [[ $count =~ ^[0-9]+$ ]] && ((count >= target)) && break
    sleep 0.1
done
despawn "$HG_PID" 15
despawn "$SINK_PID"

"$PY" - "$BENCH_TMP/ingest.log" "$BENCH_TMP/sink.log" >"$BENCH_TMP/result.txt" <<'EOF'
import sys

sent, acked = {}, {}
with open(sys.argv[1]) as f:
    for line in f:
        eid, sent_ns, ack_ns, _status = line.split()
        sent[eid], acked[eid] = int(sent_ns), int(ack_ns)
first_ok = {}
with open(sys.argv[2]) as f:
    for line in f:
        recv, eid, status = line.split()
        if status.startswith("2") and eid in acked and eid not in first_ok:
            first_ok[eid] = int(recv)
missing = len(acked) - len(first_ok)


def summary(name, start):
    lat = sorted((first_ok[e] - start[e]) / 1e6 for e in first_ok)
    if not lat:
        print(f"{name} events={len(acked)} delivered=0 missing={missing}")
        return lat
    pick = lambda p: lat[min(len(lat) - 1, int(p / 100.0 * len(lat)))]
    print(f"{name} events={len(acked)} delivered={len(first_ok)} missing={missing} p50_ms={pick(50):.3f} "
          f"p90_ms={pick(90):.3f} p99_ms={pick(99):.3f} max_ms={lat[-1]:.3f} min_ms={lat[0]:.3f}")
    return lat


print("end-to-end latency, ms (sink receive time minus the producer's 202 time / minus its send time):")
after_ack = summary("LATENCY_FROM_202", acked)
summary("LATENCY_FROM_SEND", sent)
if after_ack and after_ack[0] < 0:
    print("note: negative values from 202 mean the delivery reached the sink before the 202 reached the "
          "producer; both follow the same durable commit")
sys.exit(0 if missing == 0 else 1)
EOF
rc=$?
cat "$BENCH_TMP/result.txt"

# One CSV row per run, from the two LATENCY_ lines (percentiles empty when nothing arrived).
from_202=$(grep '^LATENCY_FROM_202 ' "$BENCH_TMP/result.txt")
from_send=$(grep '^LATENCY_FROM_SEND ' "$BENCH_TMP/result.txt")
if [[ -n $from_202 ]]; then
    csv_open latency "rate,duration_s,conns,events,delivered,missing,from_202_p50_ms,from_202_p90_ms,\
from_202_p99_ms,from_202_max_ms,from_202_min_ms,from_send_p50_ms,from_send_p90_ms,from_send_p99_ms,\
from_send_max_ms,from_send_min_ms"
    fields=("$RATE" "$DURATION" "$CONNS")
    for k in events delivered missing; do fields+=("$(kv "$from_202" "$k")"); done
    for line in "$from_202" "$from_send"; do
        for k in p50_ms p90_ms p99_ms max_ms min_ms; do fields+=("$(kv "$line" "$k")"); done
    done
    csv_row "${fields[@]}"
    echo "CSV: $CSV_FILE"
else
    log "no latency results: no CSV row"
fi
exit "$rc"
