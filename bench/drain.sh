#!/usr/bin/env bash
# drain.sh -- delivery throughput: time for hookgate to deliver N events to 1 and to 4 subscribers, vs a curl_blast ceiling.
#
# usage: bench/drain.sh [HOOKGATE_BINARY]
# env:   HOOKGATE (default build/hookgate), N events (200000), CONNS total delivery connections (64),
#        SUBS subscriber counts to run ("1 4"), DRAIN_TIMEOUT seconds per run (600),
#        REPEAT rounds (1; each round runs the ceiling, then hookgate, and its ratios use that
#        round's ceiling; with more than one, a last line gives each row's median ratio),
#        BENCH_BIN (build/bench), KEEP_TMP=1 keeps logs and data, OUT (CSV file, default
#        bench/results/drain-<UTC date>.csv; one row per ceiling and hookgate run is appended).
#
# The ceiling sends the requests hookgate sends (same body size, same header lines with
# values of the same lengths): libcurl's cost grows with the header bytes it formats, so a
# ceiling with fewer headers would not be the same work.
#
# Each subscriber gets max_in_flight = CONNS / subscribers, so every run uses CONNS connections in
# total, the same as the ceiling. The sink is stopped (SIGSTOP) while the N events are ingested
# in batches, so the backlog is all stored first; the clock runs from SIGCONT until the sink has
# counted N * subscribers requests: a pure drain, as the ceiling's blast is.
set -u
source "$(dirname "$0")/lib.sh"

HOOKGATE=${1:-${HOOKGATE:-$ROOT/build/hookgate}}
N=${N:-200000}
CONNS=${CONNS:-64}
SUBS=${SUBS:-1 4}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-600}
REPEAT=${REPEAT:-1}
require_bins sink curl_blast paced_post

ROWS=()
CEIL_RATE=""

# Starts a fresh sink (pinned with the load side: here the tested process is the sender).
# Sets SINK_PID and SINK_URL.
start_sink() {
    local port
    port=$(free_port) || exit 1
    spawn "${CLIENT_PIN[@]}" "$BENCH_BIN/sink" --listen "127.0.0.1:$port" --max-seconds $((DRAIN_TIMEOUT + 600)) \
        >"$BENCH_TMP/sink-$1.out" 2>"$BENCH_TMP/sink-$1.err"
    SINK_PID=$LAST_PID
    SINK_URL="http://127.0.0.1:$port"
    SINK_PORT=$port
    wait_http "$SINK_URL/count" 10 || { log "sink did not start: $(cat "$BENCH_TMP/sink-$1.err")"; exit 1; }
}

# Sink-side rate from /stats: (requests - 1) / (last_ns - first_ns).
sink_rate() {
    curl -s -m 5 "$SINK_URL/stats" | awk -F'[:,}]' '{
        for (i = 1; i < NF; i++) { k = $i; gsub(/[{" ]/, "", k); v[k] = $(i + 1) }
        if (v["last_ns"] > v["first_ns"]) printf "%.0f", (v["requests"] - 1) / ((v["last_ns"] - v["first_ns"]) / 1e9); else print "-" }'
}

# One result: a row of the table printed at the end, and a CSV row (round first, "-" empty).
# Args: target subs deliveries seconds rate sink_rate ratio cpu_us cpu_ratio notes
add_row() {
    local f fields=()
    ROWS+=("$(IFS='|' && echo "$*")")
    for f in "$@"; do [[ $f == - ]] && fields+=("") || fields+=("$f"); done
    csv_row "$round" "${fields[@]}"
}

echo "drain benchmark: N=$N events, $CONNS delivery connections in total, subscriber counts: $SUBS, $REPEAT round(s)"
machine_note
csv_open drain "round,target,subs,deliveries,seconds,deliveries_per_s,sink_side_per_s,ratio,cpu_us,cpu_ratio,notes" || exit 1

declare -A RATIOS CPU_RATIOS
for ((round = 1; round <= REPEAT; round++)); do
    CEIL_RATE=""
    CEIL_CPU=""
    # 1. Ceiling: libcurl multi alone, same sink, same connection count.
    start_sink "ceiling$round"
    out=$(timeout $((DRAIN_TIMEOUT + 30)) "${SERVER_PIN[@]}" "$BENCH_BIN/curl_blast" --url "$SINK_URL/ceiling" \
        --requests "$N" --connections "$CONNS" --timeout-s "$DRAIN_TIMEOUT" 2>&1)
    printf '%s\n' "$out" >"$BENCH_TMP/curl_blast-$round.txt"
    res=$(grep '^curl_blast:' <<<"$out")
    if [[ -n $res ]]; then
        CEIL_RATE=$(kv "$res" rps)
        notes=""
        [[ $(kv "$res" errors) != 0 ]] && notes="ERRORS: $(kv "$res" errors)"
        CEIL_CPU=$(kv "$res" cpu_us_per_request)
        add_row "ceiling (curl_blast)" - "$(kv "$res" requests)" "$(kv "$res" seconds)" "$CEIL_RATE" "$(sink_rate)" - \
            "$CEIL_CPU" - "$notes"
    else
        add_row "ceiling (curl_blast)" - - - - - - - - "curl_blast failed: $(tail -1 <<<"$out")"
    fi
    despawn "$SINK_PID"

    # 2. hookgate with 1 and 4 subscribers.
    HG_NOTE=""
    for subs in $SUBS; do
        [[ -n $HG_NOTE ]] && break
        start_sink "s$subs-$round"
        hg_port=$(free_port) || exit 1
        data="$BENCH_TMP/hg-data-$subs-$round"
        mkdir -p "$data"
        inflight=$((CONNS / subs))
        ((inflight < 1)) && inflight=1
        write_config "$BENCH_TMP/hookgate-$subs-$round.json" "127.0.0.1:$hg_port" "$data" '{}' \
            "$(subscribers_json "$subs" "$SINK_PORT" "$inflight")"
        if ! start_hookgate "$BENCH_TMP/hookgate-$subs-$round.json" "$hg_port" "$BENCH_TMP/hookgate-$subs-$round.log"; then
            HG_NOTE="hookgate $HG_WHY"
            despawn "$SINK_PID"
            break
        fi
        # Hold the sink while the backlog is ingested: the first deliveries wait in its socket
        # buffers and nothing is delivered before the clock starts.
        kill -STOP "$SINK_PID"
        # Batches make ingest quick; fall back to single events if batches are refused. The
        # probe's own deliveries are counted in the target.
        probe_id="probe$RANDOM$RANDOM"
        batch=500
        per_probe=2
        if [[ $(probe_post "$HG_URL" "$probe_id" batch) != 202 ]]; then
            batch=1
            per_probe=1
            if [[ $(probe_post "$HG_URL" "$probe_id") != 202 ]]; then
                HG_NOTE="hookgate does not answer POST /events with 202; not measured"
                despawn "$HG_PID" 15
                kill -CONT "$SINK_PID"
                despawn "$SINK_PID"
                break
            fi
        fi
        target=$(((N + per_probe) * subs))
        t_start=$EPOCHREALTIME
        ingest=$(timeout $((DRAIN_TIMEOUT + 30)) "${CLIENT_PIN[@]}" "$BENCH_BIN/paced_post" --url "$HG_URL/events" \
            --count "$N" --rate 0 --batch "$batch" --connections 4 --id-prefix "d$RANDOM$RANDOM" \
            --timeout-s "$DRAIN_TIMEOUT" 2>&1)
        t0=$EPOCHREALTIME
        cpu0=$(proc_cpu_ns "$HG_PID")
        kill -CONT "$SINK_PID"
        printf '%s\n' "$ingest" >"$BENCH_TMP/ingest-$subs-$round.txt"
        notes="ingested first in $(awk -v a="$t0" -v b="$t_start" 'BEGIN { printf "%.1f", a - b }')s"
        ingest_res=$(grep '^paced_post:' <<<"$ingest")
        if [[ $(kv "$ingest_res" ok) != "$N" ]]; then
            notes+="; INGEST INCOMPLETE: $ingest_res"
            target=$((($(kv "$ingest_res" ok) + per_probe) * subs))
        fi
        count=0
        deadline=$(awk -v t="$t0" -v d="$DRAIN_TIMEOUT" 'BEGIN { printf "%d", t + d }')
        # Polled without starting processes (see nap in lib.sh): curl_blast's run has no poller.
        while ((count < target)); do
            sink_count "$SINK_PORT"
            count=${SINK_COUNT:-0}
            ((count >= target)) && break
            if ((EPOCHSECONDS > deadline)); then
                notes+="; TIMEOUT after ${DRAIN_TIMEOUT}s at $count/$target"
                break
            fi
            nap 0.05
        done
        t1=$EPOCHREALTIME
        cpu_us=$(awk -v a="$(proc_cpu_ns "$HG_PID")" -v b="$cpu0" -v n="$count" \
            'BEGIN { if (n > 0) printf "%.2f", (a - b) / 1000 / n; else print "-" }')
        qc=$(ratio "$CEIL_CPU" "$cpu_us")
        CPU_RATIOS[$subs]+="$qc "
        secs=$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.3f", a - b }')
        rate=$(awk -v n="$count" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
        q=$(ratio "$rate" "$CEIL_RATE")
        RATIOS[$subs]+="$q "
        add_row hookgate "$subs" "$count" "$secs" "$rate" "$(sink_rate)" "$q" "$cpu_us" "$qc" "$notes"
        despawn "$HG_PID" 15
        despawn "$SINK_PID"
    done
done

echo
printf '%-20s | %4s | %11s | %8s | %12s | %12s | %5s | %8s | %9s | %s\n' target subs deliveries seconds \
    "deliveries/s" "sink-side/s" ratio "cpu us" "cpu ratio" notes
printf '%s\n' "---------------------+------+-------------+----------+--------------+--------------+-------+----------+-----------+------"
for row in "${ROWS[@]}"; do
    IFS='|' read -r t s d secs r sr q cpu qc notes <<<"$row"
    printf '%-20s | %4s | %11s | %8s | %12s | %12s | %5s | %8s | %9s | %s\n' "$t" "$s" "$d" "$secs" "$r" "$sr" \
        "$q" "$cpu" "$qc" "$notes"
done
[[ -n $HG_NOTE ]] && echo "hookgate: $HG_NOTE -- only the ceiling was measured"
echo "deliveries/s = deliveries / (sink resumed .. sink count reached), the backlog ingested before; sink-side/s = rate between the sink's first and last request"
echo "ratio = hookgate deliveries/s / ceiling requests/s of the same round ($CONNS connections each)"
echo "cpu us = CPU time per delivery (hookgate: all its threads from the sink's resume to the last delivery; ceiling: curl_blast's own)"
echo "cpu ratio = ceiling cpu us / hookgate cpu us of the same round: the efficiency, whoever else takes turns on the CPUs"
# Median of a space-separated list of numbers ("-" entries ignored).
median_of() {
    tr ' ' '\n' <<<"$1" | grep -v '^-*$' | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
if ((REPEAT > 1)); then
    for subs in $SUBS; do
        [[ -n ${RATIOS[$subs]:-} ]] || continue
        printf 'median ratio, %s subscriber(s), %d rounds: %s (%s); median cpu ratio: %s (%s)\n' "$subs" "$REPEAT" \
            "$(median_of "${RATIOS[$subs]}")" "${RATIOS[$subs]% }" \
            "$(median_of "${CPU_RATIOS[$subs]}")" "${CPU_RATIOS[$subs]% }"
    done
fi
echo "CSV (one row per run): ${CSV_FILE#"$ROOT"/}"
exit 0
