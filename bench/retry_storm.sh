#!/usr/bin/env bash
# retry_storm.sh -- retries under load: a sink failing half of all requests; every event must still arrive,
# with about 1 / (1 - fail rate) attempts per event.
#
# usage: bench/retry_storm.sh [HOOKGATE_BINARY]
# env:   HOOKGATE (default build/hookgate), N events (20000), FAIL_RATE (0.5), STORM_TIMEOUT seconds (300),
#        BENCH_BIN (build/bench), OUT (CSV file, default bench/results/retry_storm-<UTC date>.csv; one row
#        per run is appended), KEEP_TMP=1 keeps the logs.
# Retry policy under test: initial_delay_ms 10, multiplier 1.5, max_attempts 20.
# Exit status: 0 every event delivered, 1 not, 77 skipped (hookgate missing or not working).
set -u
source "$(dirname "$0")/lib.sh"

HOOKGATE=${1:-${HOOKGATE:-$ROOT/build/hookgate}}
N=${N:-20000}
FAIL_RATE=${FAIL_RATE:-0.5}
STORM_TIMEOUT=${STORM_TIMEOUT:-300}
require_bins sink paced_post

echo "retry storm: N=$N events, sink fails with probability $FAIL_RATE, retry 10 ms x1.5, max 20 attempts"
machine_note

sink_port=$(free_port) || exit 1
hg_port=$(free_port) || exit 1
spawn "${CLIENT_PIN[@]}" "$BENCH_BIN/sink" --listen "127.0.0.1:$sink_port" --fail-rate "$FAIL_RATE" \
    --latency-log "$BENCH_TMP/sink.log" --max-seconds $((STORM_TIMEOUT + 600)) \
    >"$BENCH_TMP/sink.out" 2>"$BENCH_TMP/sink.err"
SINK_PID=$LAST_PID
SINK_URL="http://127.0.0.1:$sink_port"
wait_http "$SINK_URL/count" 10 || { log "sink did not start: $(cat "$BENCH_TMP/sink.err")"; exit 1; }

mkdir -p "$BENCH_TMP/hg-data"
write_config "$BENCH_TMP/hookgate.json" "127.0.0.1:$hg_port" "$BENCH_TMP/hg-data" \
    '{"initial_delay_ms": 10, "multiplier": 1.5, "max_attempts": 20}' "$(subscribers_json 1 "$sink_port" 64)"
if ! start_hookgate "$BENCH_TMP/hookgate.json" "$hg_port" "$BENCH_TMP/hookgate.log"; then
    echo "hookgate $HG_WHY -- skipped (this benchmark has no ceiling run)"
    exit 77
fi

# Batches keep ingest short; fall back to single events if hookgate refuses them.
batch=500
probes=2
if [[ $(probe_post "$HG_URL" "probe$RANDOM$RANDOM" batch) != 202 ]]; then
    batch=1
    probes=1
    [[ $(probe_post "$HG_URL" "probe$RANDOM$RANDOM") == 202 ]] ||
        { echo "hookgate does not answer POST /events with 202 -- skipped"; exit 77; }
fi
: >"$BENCH_TMP/ingest.log"
t0=$(date +%s.%N)
ingest=$(timeout $((STORM_TIMEOUT + 30)) "${CLIENT_PIN[@]}" "$BENCH_BIN/paced_post" --url "$HG_URL/events" \
    --count "$N" --rate 0 --batch "$batch" --connections 4 --log "$BENCH_TMP/ingest.log" \
    --id-prefix "r$RANDOM$RANDOM" --timeout-s "$STORM_TIMEOUT" 2>&1)
echo "$ingest"

# The sink's unique_ok counts distinct webhook-ids answered 200, the probes included.
target=$(($(wc -l <"$BENCH_TMP/ingest.log") + probes))
stats=""
deadline=$(($(date +%s) + STORM_TIMEOUT))
while (($(date +%s) <= deadline)); do
    stats=$(curl -s -m 2 "$SINK_URL/stats")
    uniq=$(sed -n 's/.*"unique_ok":\([0-9]*\).*/\1/p' <<<"$stats")
    [[ -n $uniq ]] && ((uniq >= target)) && break
    sleep 0.2
done
t1=$(date +%s.%N)
echo "sink: $stats"
dead=$(curl -s -m 5 "$HG_URL/admin/dead-letters?limit=1000" | "$PY" -c \
    'import json, sys
try: print(len(json.load(sys.stdin)["items"]))
except Exception: print("unknown")')
despawn "$HG_PID" 15
despawn "$SINK_PID"

"$PY" - "$BENCH_TMP/ingest.log" "$BENCH_TMP/sink.log" "$FAIL_RATE" "$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')" "$dead" \
    >"$BENCH_TMP/result.txt" <<'EOF'
import collections, sys

ingested = set(line.split()[0] for line in open(sys.argv[1]))
attempts = collections.Counter()
delivered = collections.Counter()
for line in open(sys.argv[2]):
    _recv, eid, status = line.split()
    if eid not in ingested:
        continue
    attempts[eid] += 1
    if status.startswith("2"):
        delivered[eid] += 1
fail = float(sys.argv[3])
total = sum(attempts.values())
expected = len(ingested) / (1.0 - fail)
missing = len(ingested) - len(delivered)
dups = sum(delivered.values()) - len(delivered)
print(f"STORM events={len(ingested)} delivered={len(delivered)} missing={missing} attempts={total} "
      f"expected_attempts={expected:.0f} ratio={total / expected if expected else 0:.3f} "
      f"max_attempts_one_event={max(attempts.values()) if attempts else 0} duplicate_successes={dups} "
      f"seconds={sys.argv[4]} dead_letters={sys.argv[5]}")
print("PASS: every event delivered" if missing == 0 and ingested else "FAIL: events missing")
sys.exit(0 if missing == 0 and ingested else 1)
EOF
rc=$?
cat "$BENCH_TMP/result.txt"

# One CSV row per run, from the STORM line.
storm=$(grep '^STORM ' "$BENCH_TMP/result.txt")
if [[ -n $storm ]]; then
    keys=(events delivered missing attempts expected_attempts ratio max_attempts_one_event duplicate_successes
        seconds dead_letters)
    fields=("$N" "$FAIL_RATE")
    for k in "${keys[@]}"; do fields+=("$(kv "$storm" "$k")"); done
    fields+=("$( ((rc == 0)) && echo PASS || echo FAIL)")
    csv_open retry_storm "n,fail_rate,$(IFS=,; echo "${keys[*]}"),result"
    csv_row "${fields[@]}"
    echo "CSV: $CSV_FILE"
else
    log "no STORM line: no CSV row"
fi
exit "$rc"
