#!/usr/bin/env bash
# retention_soak.sh -- does retention keep the store bounded? N events (default 1,000,000) are
# ingested at RATE/s and delivered with retention_hours 0; prints the LMDB data file size and
# the part of the map in use along the way and at the end.
#
# usage: bench/retention_soak.sh [HOOKGATE_BINARY]
# env:   HOOKGATE (default build/hookgate), N (1000000), RATE events/s (20000), BATCH (100),
#        SOAK_TIMEOUT seconds (900), BENCH_BIN (build/bench), OUT (CSV file, default
#        bench/results/retention_soak-<UTC date>.csv; one row per 5-s sample is appended),
#        KEEP_TMP=1 keeps logs and data.
#
# Without retention every event stays (about 1.2 KB of store each with its delivery), so the
# file would end near N x 1.2 KB; with retention 0 it should stay near the peak backlog.
set -u
source "$(dirname "$0")/lib.sh"

HOOKGATE=${1:-${HOOKGATE:-$ROOT/build/hookgate}}
N=${N:-1000000}
RATE=${RATE:-20000}
BATCH=${BATCH:-100}
SOAK_TIMEOUT=${SOAK_TIMEOUT:-900}
require_bins sink paced_post

metric() { # name -> value from /metrics
    curl -s -m 5 "$HG_URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
mib() { awk -v b="${1:-0}" 'BEGIN { printf "%.1f", b / 1048576 }'; }

echo "retention soak: N=$N events at $RATE/s (batches of $BATCH), retention_hours 0"
machine_note
sink_port=$(free_port) || exit 1
spawn "${CLIENT_PIN[@]}" "$BENCH_BIN/sink" --listen "127.0.0.1:$sink_port" --max-seconds $((SOAK_TIMEOUT + 60)) \
    >"$BENCH_TMP/sink.out" 2>"$BENCH_TMP/sink.err"
SINK_PID=$LAST_PID
wait_http "http://127.0.0.1:$sink_port/count" 10 || { log "sink did not start"; exit 1; }

hg_port=$(free_port) || exit 1
cat >"$BENCH_TMP/soak.json" <<JSON
{
  "listen": "127.0.0.1:$hg_port",
  "data_dir": "$BENCH_TMP/data",
  "retention_hours": 0,
  "map_size_mb": 4096,
  "subscribers": [{"name": "soak", "url": "http://127.0.0.1:$sink_port/soak", "events": ["message_created"], "max_in_flight": 64}]
}
JSON
start_hookgate "$BENCH_TMP/soak.json" "$hg_port" "$BENCH_TMP/hookgate.log" || { echo "hookgate $HG_WHY"; exit 77; }

timeout $((SOAK_TIMEOUT + 30)) "${CLIENT_PIN[@]}" "$BENCH_BIN/paced_post" --url "$HG_URL/events" --count "$N" \
    --rate "$RATE" --batch "$BATCH" --connections 4 --id-prefix "soak$RANDOM" --timeout-s "$SOAK_TIMEOUT" \
    >"$BENCH_TMP/ingest.txt" 2>&1 &
ingest_pid=$!
printf '%8s | %10s | %10s | %10s | %12s | %12s\n' seconds delivered pruned pending "file MiB" "in use MiB"
csv_open retention_soak "n,rate,seconds,delivered,pruned,pending,file_mib,used_mib"
t0=$(date +%s)
deadline=$((t0 + SOAK_TIMEOUT))
peak_file=0
while :; do
    sleep 5
    delivered=$(curl -s -m 2 "http://127.0.0.1:$sink_port/count")
    pruned=$(metric hookgate_retention_pruned_events_total)
    pending=$(curl -s -m 5 "$HG_URL/metrics" | awk '$1 ~ /^hookgate_pending_deliveries/ { s += $2 } END { print s + 0 }')
    file=$(metric hookgate_store_file_bytes)
    used=$(metric hookgate_store_used_bytes)
    ((${file%.*} > peak_file)) && peak_file=${file%.*}
    secs=$(($(date +%s) - t0))
    file_mib=$(mib "$file")
    used_mib=$(mib "$used")
    printf '%8d | %10s | %10s | %10s | %12s | %12s\n' "$secs" "$delivered" "$pruned" "$pending" "$file_mib" "$used_mib"
    csv_row "$N" "$RATE" "$secs" "$delivered" "$pruned" "$pending" "$file_mib" "$used_mib"
    if ! kill -0 "$ingest_pid" 2>/dev/null && [[ ${pruned%.*} -ge $N ]]; then break; fi
    if (($(date +%s) > deadline)); then echo "TIMEOUT after ${SOAK_TIMEOUT}s"; break; fi
done
wait "$ingest_pid" 2>/dev/null
grep '^paced_post:' "$BENCH_TMP/ingest.txt"
echo "peak data file: $(mib "$peak_file") MiB for $N events; without retention about $(mib $((N * 1200))) MiB"
echo "CSV: $CSV_FILE"
despawn "$HG_PID" 15
despawn "$SINK_PID"
