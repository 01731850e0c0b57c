#!/usr/bin/env bash
# replay.sh -- ingest latency while a replay walks a large store: N stored events are replayed
# to a subscriber added by SIGHUP while a client keeps posting at a steady rate.
#
# usage: bench/replay.sh [HOOKGATE_BINARY]
# env:   HOOKGATE (default build/hookgate), N stored events (200000), RATE events/s the client
#        posts during the replay (1000), CONNS client connections (8), DELIVER=1 lets the
#        replayed deliveries go out meanwhile (default 0: the subscriber is paused, so the
#        numbers are the replay's own cost), BENCH_BIN (build/bench), OUT (CSV file, default
#        bench/results/replay-<UTC date>.csv; two rows per run are appended), KEEP_TMP=1 keeps
#        logs and data.
#
# Steps: the N events are ingested in batches of 1000 (no subscriber matches yet); a subscriber
# for every type is added by SIGHUP; the client starts posting single events at RATE; one second
# later POST /admin/subscribers/late/replay runs (it answers when the whole walk is done); the
# client stops one second after that. Ingest latency (send to 202, per request) is reported for
# the requests sent while the replay ran, and for those sent before it as a baseline.
# Target: ingest p99 under 50 ms during the replay.
set -u
source "$(dirname "$0")/lib.sh"

HOOKGATE=${1:-${HOOKGATE:-$ROOT/build/hookgate}}
N=${N:-200000}
RATE=${RATE:-1000}
CONNS=${CONNS:-8}
DELIVER=${DELIVER:-0}
MAX_REPLAY_S=${MAX_REPLAY_S:-300}
require_bins sink paced_post

echo "replay benchmark: N=$N stored events, client at $RATE events/s over $CONNS connections, deliveries $([[ $DELIVER == 1 ]] && echo on || echo paused)"
machine_note

port=$(free_port) || exit 1
spawn "${CLIENT_PIN[@]}" "$BENCH_BIN/sink" --listen "127.0.0.1:$port" --max-seconds $((MAX_REPLAY_S + 600)) \
    >"$BENCH_TMP/sink.out" 2>"$BENCH_TMP/sink.err"
wait_http "http://127.0.0.1:$port/count" 10 || { log "sink did not start"; exit 1; }

hg_port=$(free_port) || exit 1
mkdir -p "$BENCH_TMP/data"
CFG=$BENCH_TMP/hookgate.json
write_config "$CFG" "127.0.0.1:$hg_port" "$BENCH_TMP/data" '{}' '[]'
start_hookgate "$CFG" "$hg_port" "$BENCH_TMP/hookgate.log" || { log "hookgate $HG_WHY"; exit 1; }

# 1. The stored events.
t=$(date +%s.%N)
"${CLIENT_PIN[@]}" "$BENCH_BIN/paced_post" --url "$HG_URL/events" --count "$N" --rate 100000 --batch 1000 \
    --connections 4 --id-prefix stored --timeout-s 600 >"$BENCH_TMP/fill.out" 2>&1
res=$(grep '^paced_post:' "$BENCH_TMP/fill.out")
[[ $(kv "$res" ok) == "$N" ]] || { log "filling the store failed: $res"; exit 1; }
log "stored $N events in $(awk -v a="$t" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"

# 2. The new subscriber, paused unless DELIVER=1 (pause is stored, so it holds from the reload on).
write_config "$CFG" "127.0.0.1:$hg_port" "$BENCH_TMP/data" '{}' \
    "[{\"name\": \"late\", \"url\": \"http://127.0.0.1:$port/late\", \"events\": [\"*\"], \"max_in_flight\": 64}]"
kill -HUP "$HG_PID"
for ((i = 0; i < 100; i++)); do
    curl -s -m 2 "$HG_URL/admin/subscribers" | grep -q '"late"' && break
    sleep 0.1
done
[[ $DELIVER == 1 ]] || curl -s -m 10 -X POST "$HG_URL/admin/subscribers/late/pause" >/dev/null

# 3. The client, then the replay one second into it.
LOGF=$BENCH_TMP/ingest.log
spawn "${CLIENT_PIN[@]}" "$BENCH_BIN/paced_post" --url "$HG_URL/events" --count $((RATE * (MAX_REPLAY_S + 10))) \
    --rate "$RATE" --connections "$CONNS" --id-prefix live --log "$LOGF" --timeout-s $((MAX_REPLAY_S + 60)) \
    >"$BENCH_TMP/live.out" 2>&1
PP_PID=$LAST_PID
sleep 1
r0=$(date +%s%N)
answer=$(curl -s -m "$MAX_REPLAY_S" -X POST "$HG_URL/admin/subscribers/late/replay")
r1=$(date +%s%N)
sleep 1
kill -INT "$PP_PID" 2>/dev/null
despawn "$PP_PID" 5
requeued=$(sed -n 's/.*"requeued":\([0-9]*\).*/\1/p' <<<"$answer")
replay_s=$(awk -v a="$r0" -v b="$r1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
log "replay answered after $replay_s s: $answer"

# 4. Latency of the requests sent before and during the replay (log: id sent_ns ack_ns status).
stats() { # from_ns to_ns -> "count p50 p99 max" in ms
    awk -v a="$1" -v b="$2" '$2 >= a && $2 < b && $4 >= 200 && $4 < 300 { print ($3 - $2) / 1e6 }' "$LOGF" |
        sort -n | awk '{ v[NR] = $1 } END {
            if (NR == 0) { print "0 - - -"; exit }
            i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
            printf "%d %.2f %.2f %.2f\n", NR, v[i50], v[i99], v[NR] }'
}
read -r n_before p50_before p99_before max_before <<<"$(stats 0 "$r0")"
read -r n_during p50_during p99_during max_during <<<"$(stats "$r0" "$r1")"
errors=$(awk '$4 < 200 || $4 >= 300' "$LOGF" | wc -l)
verdict=$(awk -v p="$p99_during" 'BEGIN { print (p != "-" && p + 0 < 50) ? "PASS" : "FAIL" }')

echo
printf '%-8s | %8s | %8s | %8s | %8s\n' phase requests "p50 ms" "p99 ms" "max ms"
printf '%-8s | %8s | %8s | %8s | %8s\n' before "$n_before" "$p50_before" "$p99_before" "$max_before"
printf '%-8s | %8s | %8s | %8s | %8s\n' replay "$n_during" "$p50_during" "$p99_during" "$max_during"
echo "replay: requeued=${requeued:-?} ($N stored first, the rest posted by the client before the replay began) in $replay_s s; client errors: $errors"
echo "$verdict: ingest p99 during the replay ${p99_during} ms (target < 50 ms)"

csv_open replay "stored_events,requeued,replay_s,client_rate,deliver,phase,requests,p50_ms,p99_ms,max_ms,errors"
csv_row "$N" "${requeued:-}" "$replay_s" "$RATE" "$DELIVER" before "$n_before" "$p50_before" "$p99_before" \
    "$max_before" "$errors"
csv_row "$N" "${requeued:-}" "$replay_s" "$RATE" "$DELIVER" replay "$n_during" "$p50_during" "$p99_during" \
    "$max_during" "$errors"
echo "CSV: $CSV_FILE"
[[ $verdict == PASS ]]
