#!/usr/bin/env bash
# capacity.sh -- sustained capacity: an open-loop producer steps the offered event rate up until
# hookgate can no longer take the events in fast enough or deliver them as fast as they come,
# with 1, 4 and 16 matching subscribers. Writes one CSV row per step and draws SVGs (gnuplot).
#
# usage: bench/capacity.sh [HOOKGATE_BINARY]
# env:   HOOKGATE (default build/hookgate), SUBS subscriber counts ("1 4 16"),
#        RATES offered events/s, ascending ("250 500 1000 2000 4000 6000 8000 10000 12000 14000
#        16000 20000 24000 28000 32000"), STEP_S seconds per step (5), CONNS producer
#        connections (64), MAX_IN_FLIGHT per subscriber (32, hookgate's default; the global
#        cap stays at its default, 256),
#        P99_MAX_MS ingest p99 bound (20), BACKLOG_MAX_S backlog growth bound in seconds of
#        offered deliveries (0.5), RETRIES extra runs of a failed step (1), FAILS_TO_STOP failed
#        steps in a row that end a subscriber count (1), DRAIN_MAX seconds to wait after a step
#        for its deliveries (20), RUN_MAX overall seconds (900), OUT_DIR (bench/out/capacity-<UTC
#        time>), BENCH_PIN=0 (no CPU pinning), BENCH_BIN (build/bench), KEEP_TMP=1 keeps logs
#        and data.
# Exit status: 0 measured, 1 failed, 77 skipped (hookgate missing or not working).
#
# A step: paced_post sends RATE x STEP_S events at RATE/s (request i is due at t0 + i/RATE,
# whatever happened to the earlier ones) and logs each 202's time; the sink logs each delivery's
# arrival (both CLOCK_REALTIME). Ingest latency is taken from the request's due time, so time a
# request waited for a free connection counts (no coordinated omission). When the producer is
# done, the backlog (hookgate_pending_deliveries summed over subscribers, from /metrics) is read
# at once; then the script waits (DRAIN_MAX) for the step's deliveries, and the delivery lag of
# each is sink receive time minus the 202 time of its event. Deliveries that did not arrive
# count as infinitely late.
#
# A step passes when: no event was refused or lost (errors = 0), ingest p99 <= P99_MAX_MS, and
# the backlog does not grow: backlog_max - backlog_start <= BACKLOG_MAX_S x offered rate x
# subscribers, where backlog_max is the largest of the samples taken every 0.5 s during the
# step and the one at its end. With 5 s steps and 0.5 s, a delivery rate more than 10% below the
# offered one fails, and so does a backlog that swings by more than half a second of deliveries
# (lag in the hundreds of ms) even if it happens to be low at the end. A failed step is run again
# (RETRIES) and fails only if every run fails; every run is a CSV row, "counted" marks the one
# that decided the step. The capacity for a subscriber count is the highest offered rate that
# passed below its first failed step.
set -u
source "$(dirname "$0")/lib.sh"

HOOKGATE=${1:-${HOOKGATE:-$ROOT/build/hookgate}}
SUBS=${SUBS:-1 4 16}
RATES=${RATES:-250 500 1000 2000 4000 6000 8000 10000 12000 14000 16000 20000 24000 28000 32000}
STEP_S=${STEP_S:-5}
CONNS=${CONNS:-64}
MAX_IN_FLIGHT=${MAX_IN_FLIGHT:-32}
P99_MAX_MS=${P99_MAX_MS:-20}
BACKLOG_MAX_S=${BACKLOG_MAX_S:-0.5}
RETRIES=${RETRIES:-1}
FAILS_TO_STOP=${FAILS_TO_STOP:-1}
DRAIN_MAX=${DRAIN_MAX:-20}
RUN_MAX=${RUN_MAX:-900}
OUT_DIR=${OUT_DIR:-$BENCH_DIR/out/capacity-$(date -u +%Y%m%dT%H%M%SZ)}
require_bins sink paced_post

[[ $RETRIES =~ ^[0-9]+$ ]] || { log "RETRIES must be an integer >= 0"; exit 2; }
for v in P99_MAX_MS BACKLOG_MAX_S; do
    [[ ${!v} =~ ^[0-9]+([.][0-9]+)?$ ]] || { log "$v must be a number (got '${!v}')"; exit 2; }
done
for v in STEP_S CONNS MAX_IN_FLIGHT FAILS_TO_STOP DRAIN_MAX RUN_MAX; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { log "$v must be a positive integer (got '${!v}')"; exit 2; }
done
for v in $SUBS $RATES; do
    [[ $v =~ ^[1-9][0-9]*$ ]] || { log "SUBS and RATES must be positive integers (got '$v')"; exit 2; }
done
mkdir -p "$OUT_DIR" || exit 2
# The per-event logs (producer and sink) go to tmpfs when there is one: written on the disk that
# hookgate fsyncs, they would compete with it, and a write throttled by writeback would stall
# the producer's or the sink's event loop and show up as hookgate's latency. hookgate's data
# stays on the disk (BENCH_TMP).
LOG_DIR=$BENCH_TMP
if [[ -d /dev/shm && -w /dev/shm ]] && SHM_DIR=$(mktemp -d /dev/shm/hookgate-capacity.XXXXXX); then
    LOG_DIR=$SHM_DIR
    trap 'if [[ -n ${KEEP_TMP:-} ]]; then log "kept $SHM_DIR"; else rm -rf "$SHM_DIR"; fi; bench_cleanup' EXIT
fi
CSV=$OUT_DIR/capacity.csv
COLS="subscribers,offered_eps,attempt,counted,achieved_eps,events,acked,errors,ingest_p50_ms,ingest_p99_ms,send_p50_ms,send_p99_ms,max_behind_ms,lag_p50_ms,lag_p99_ms,lag_max_ms,deliveries,undelivered,backlog_start,backlog_end,backlog_max,backlog_bound,pass,load1,cpu_psi,io_psi"
echo "$COLS" >"$CSV"

START=$(date +%s)
DEADLINE=$((START + RUN_MAX))
echo "capacity benchmark: subscribers \"$SUBS\", offered events/s \"$RATES\", ${STEP_S}s steps, $CONNS producer connections, max_in_flight $MAX_IN_FLIGHT per subscriber"
echo "pass: errors 0, ingest p99 <= $P99_MAX_MS ms, backlog growth <= $BACKLOG_MAX_S s of offered deliveries; a failed step is run again $RETRIES time(s); stop after $FAILS_TO_STOP failed step(s) in a row"
machine_note
echo "output: $OUT_DIR"

# The polls during a step start no process (see nap in lib.sh): the producer and the sink
# share their CPUs with this script.
# Sets BACKLOG to the deliveries not yet delivered nor dead-lettered, summed over
# subscribers (in-flight included), or to "nan" when /metrics did not answer with them.
backlog() {
    http_get "$hg_port" /metrics
    metric_sum "$HTTP_BODY" hookgate_pending_deliveries
    BACKLOG=$METRIC
}
psi() { sed -n 's/^some avg10=\([0-9.]*\).*/\1/p' "/proc/pressure/$1" 2>/dev/null || echo nan; }

# Step analysis: acked events from paced_post's log, deliveries from the sink's log (from byte
# offset on, only this step's id prefix). Prints "lag_p50 lag_p99 lag_max deliveries undelivered".
lag_stats() {
    "$PY" - "$@" <<'EOF'
import math, sys

ingest_log, sink_log, offset, prefix, subs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] + "-", int(sys.argv[5])
ack = {}
with open(ingest_log) as f:
    for line in f:
        eid, _sent, ack_ns, _status = line.split()
        ack[eid] = int(ack_ns)
lags = []
with open(sink_log, "rb") as f:
    f.seek(offset)
    for raw in f:
        parts = raw.decode("utf-8", "replace").split()
        if len(parts) != 3 or not parts[1].startswith(prefix) or not parts[2].startswith("2"):
            continue
        a = ack.get(parts[1])
        if a is not None:
            lags.append((int(parts[0]) - a) / 1e6)
expected = len(ack) * subs
undelivered = max(0, expected - len(lags))
lags.sort()
lags += [math.inf] * undelivered  # never arrived (within DRAIN_MAX): later than any that did
def pick(p):
    if not lags:
        return "nan"
    v = lags[min(len(lags) - 1, int(p / 100.0 * len(lags)))]
    return "nan" if math.isinf(v) else f"{v:.3f}"
print(pick(50), pick(99), pick(100), len(lags) - undelivered, undelivered)
EOF
}

# One run of one step; sets PASS (1/0), WHY (failed conditions) and ROW (CSV fields after
# subscribers,offered_eps,attempt; without counted). Returns 1 when paced_post gave no result.
run_step() {
    local n=$1 rate=$2 count prefix b_start c_start off step_log pp_pid b_max b_end res acked errors
    local want i lag50 lag99 lagmax delivered undelivered bound p99 load1 psi_cpu psi_io
    count=$((rate * STEP_S))
    prefix="cap${n}s${rate}r$RANDOM"
    backlog
    b_start=$BACKLOG
    sink_count "$sink_port" # also flushes the sink's log, so its size is where this step starts
    c_start=$SINK_COUNT
    off=$(stat -c %s "$SINK_LOG")
    step_log=$LOG_DIR/ingest-$n-$rate.log
    spawn timeout $((STEP_S * 3 + 40)) "${CLIENT_PIN[@]}" "$BENCH_BIN/paced_post" --url "$HG_URL/events" \
        --count "$count" --rate "$rate" --connections "$CONNS" --id-prefix "$prefix" --log "$step_log" \
        --timeout-s $((STEP_S * 3 + 30)) >"$BENCH_TMP/pp-$n-$rate.out" 2>&1
    pp_pid=$LAST_PID
    b_max=0
    # Backlog every 0.5 s; the producer's exit is noticed within 50 ms (the backlog drains fast
    # once the producer stops, so the end sample must follow it closely).
    for ((i = 1; ; i++)); do # bounded by the timeout above
        nap 0.05
        kill -0 "$pp_pid" 2>/dev/null || break
        if ((i % 10 == 0)); then
            backlog
            [[ $BACKLOG =~ ^[0-9]+$ ]] && ((BACKLOG > b_max)) && b_max=$BACKLOG
        fi
    done
    backlog # at once: the step's end
    b_end=$BACKLOG
    [[ $b_end =~ ^[0-9]+$ ]] && ((b_end > b_max)) && b_max=$b_end
    despawn "$pp_pid" 1
    res=$(grep '^paced_post:' "$BENCH_TMP/pp-$n-$rate.out")
    if [[ -z $res ]]; then
        log "paced_post failed at $n subscriber(s), $rate events/s: $(tail -2 "$BENCH_TMP/pp-$n-$rate.out" | tr '\n' ' ')"
        return 1
    fi
    acked=$(kv "$res" ok)
    errors=$((count - acked))
    # Wait (at most DRAIN_MAX s) for the step's deliveries, so that lag covers all of them and the
    # next step starts from an empty backlog.
    want=$((c_start + acked * n))
    for ((i = 0; i < DRAIN_MAX * 10; i++)); do
        sink_count "$sink_port" && ((SINK_COUNT >= want)) && break
        nap 0.1
    done
    sink_count "$sink_port" # flushes the sink's log
    read -r lag50 lag99 lagmax delivered undelivered <<<"$(lag_stats "$step_log" "$SINK_LOG" "$off" "$prefix" "$n")"
    [[ -n ${KEEP_TMP:-} ]] || rm -f "$step_log"
    bound=$(awk -v s="$BACKLOG_MAX_S" -v r="$rate" -v n="$n" 'BEGIN { printf "%d", s * r * n }')
    p99=$(kv "$res" sched_p99_ms)
    WHY=""
    ((errors > 0)) && WHY+="errors=$errors "
    awk -v p="$p99" -v m="$P99_MAX_MS" 'BEGIN { exit !(p + 0 > m + 0) }' && WHY+="ingest_p99>${P99_MAX_MS}ms "
    if [[ $b_start =~ ^[0-9]+$ && $b_end =~ ^[0-9]+$ ]]; then
        ((b_max - b_start > bound)) && WHY+="backlog+$((b_max - b_start))>$bound "
    else
        WHY+="backlog_unknown "
    fi
    WHY=${WHY% }
    PASS=1
    [[ -n $WHY ]] && PASS=0
    load1=$(cut -d' ' -f1 /proc/loadavg)
    # Pressure stall (share of the last 10 s some task waited for CPU / for I/O), if the kernel
    # has PSI: how much other work competed with this run.
    psi_cpu=$(psi cpu)
    psi_io=$(psi io)
    ROW="$(kv "$res" events_per_s),$count,$acked,$errors,$(kv "$res" sched_p50_ms),$p99,$(kv "$res" p50_ms),$(kv "$res" p99_ms),$(kv "$res" max_behind_ms),$lag50,$lag99,$lagmax,$delivered,$undelivered,$b_start,$b_end,$b_max,$bound,$PASS,$load1,$psi_cpu,$psi_io"
    log "$(printf '[%4ds] subs=%-2d offered=%-6d achieved=%-6s ingest p50/p99=%s/%s ms lag p50/p99=%s/%s ms backlog %s->%s max %s (bound +%s) errors=%d load=%s psi cpu/io=%s/%s %s' \
        $(($(date +%s) - START)) "$n" "$rate" "$(kv "$res" events_per_s)" "$(kv "$res" sched_p50_ms)" "$p99" \
        "$lag50" "$lag99" "$b_start" "$b_end" "$b_max" "$bound" "$errors" "$load1" "$psi_cpu" "$psi_io" "${WHY:-PASS}")"
    return 0
}

declare -A RESULT # subs -> result line
declare -A CAP    # subs -> capacity, events/s
overall_rc=0
for n in $SUBS; do
    if (($(date +%s) >= DEADLINE)); then
        log "RUN_MAX ($RUN_MAX s) reached; skipping $n subscriber(s)"
        RESULT[$n]="not measured (RUN_MAX reached)"
        continue
    fi
    sink_port=$(free_port) || exit 1
    hg_port=$(free_port) || exit 1
    SINK_URL="http://127.0.0.1:$sink_port"
    SINK_LOG=$LOG_DIR/sink-$n.log
    spawn "${CLIENT_PIN[@]}" "$BENCH_BIN/sink" --listen "127.0.0.1:$sink_port" --latency-log "$SINK_LOG" \
        --max-seconds $((RUN_MAX + 120)) >"$BENCH_TMP/sink-$n.out" 2>"$BENCH_TMP/sink-$n.err"
    SINK_PID=$LAST_PID
    wait_http "$SINK_URL/count" 10 || { log "sink did not start: $(cat "$BENCH_TMP/sink-$n.err")"; exit 1; }
    rm -rf "$BENCH_TMP/hg-data"
    mkdir -p "$BENCH_TMP/hg-data"
    write_config "$BENCH_TMP/hookgate-$n.json" "127.0.0.1:$hg_port" "$BENCH_TMP/hg-data" '{}' \
        "$(subscribers_json "$n" "$sink_port" "$MAX_IN_FLIGHT")"
    if ! start_hookgate "$BENCH_TMP/hookgate-$n.json" "$hg_port" "$BENCH_TMP/hookgate-$n.log"; then
        echo "hookgate $HG_WHY -- skipped (this benchmark has no ceiling run)"
        exit 77
    fi
    if [[ $(probe_post "$HG_URL" "probe$RANDOM$RANDOM") != 202 ]]; then
        echo "hookgate does not answer POST /events with 202 -- skipped"
        exit 77
    fi
    for ((i = 0; i < 100; i++)); do # the probe's n deliveries, at most 10 s
        sink_count "$sink_port" && ((SINK_COUNT >= n)) && break
        nap 0.1
    done

    fails=0
    best=""
    first_fail=""
    for rate in $RATES; do
        for ((attempt = 1; attempt <= RETRIES + 1; attempt++)); do
            if (($(date +%s) + STEP_S + DRAIN_MAX > DEADLINE)); then
                log "RUN_MAX ($RUN_MAX s) reached at $n subscriber(s), $rate events/s"
                [[ -z $first_fail ]] && first_fail="RUN_MAX reached"
                break 2
            fi
            if ! run_step "$n" "$rate"; then
                overall_rc=1
                [[ -z $first_fail ]] && first_fail="$rate (paced_post failed)"
                break 2
            fi
            # A failed run is repeated (RETRIES times) before the step counts as failed: others'
            # work on the machine makes false failures, hardly ever false passes.
            counted=1
            ((PASS == 0 && attempt <= RETRIES)) && counted=0
            echo "$n,$rate,$attempt,$counted,$ROW" >>"$CSV"
            ((counted)) && break
        done
        if ((PASS)); then
            fails=0
            [[ -z $first_fail ]] && best=$rate
        else
            [[ -z $first_fail ]] && first_fail="$rate ($WHY)"
            fails=$((fails + 1))
            ((fails >= FAILS_TO_STOP)) && break
        fi
    done
    if [[ -z $first_fail ]]; then
        CAP[$n]=">=${best:-?}"
        RESULT[$n]="${best:-none} events/s (no step failed: raise RATES)"
    else
        CAP[$n]=${best:-"<${RATES%% *}"}
        RESULT[$n]="${best:-below the first step} events/s (first failing step: $first_fail)"
    fi
    despawn "$HG_PID" 15
    despawn "$SINK_PID"
    rm -rf "$BENCH_TMP/hg-data"
    [[ -n ${KEEP_TMP:-} ]] || rm -f "$SINK_LOG"
done

echo
column -s, -t <"$CSV" | cut -c1-400
echo
for n in $SUBS; do
    echo "capacity: $n subscriber(s): ${RESULT[$n]:-not measured}"
done
echo "$(machine_note) (at the end)"

summary=""
for n in $SUBS; do
    summary+="$n sub: ${CAP[$n]:-?}/s, "
done
draw_svg "$BENCH_DIR/capacity.gp" "$CSV" "$OUT_DIR/capacity.svg" \
    "subs='$SUBS'; p99max=$P99_MAX_MS; title='$(date -u +%Y-%m-%d), ${STEP_S} s steps, $NCPU CPUs'; result='capacity (ingest p99 <= $P99_MAX_MS ms, backlog flat): ${summary%, }'" || overall_rc=1
echo "csv: $CSV"
exit $overall_rc
