#!/usr/bin/env bash
# ingest.sh -- ingest throughput: wrk POST /events against the h2o ceilings and against hookgate, side by side.
#
# usage: bench/ingest.sh [HOOKGATE_BINARY]
# env:   HOOKGATE (default build/hookgate), DURATION seconds per run (10), CONNS ("64 256"),
#        THREADS wrk threads (2), REPEAT runs per row, the median is shown (1),
#        SUBS matching subscribers on the sink (1; 0 measures ingest without deliveries),
#        QUIESCE_MAX seconds to wait for hookgate's delivery backlog between runs (60),
#        BENCH_BIN (build/bench), KEEP_TMP=1 keeps logs and data, OUT (CSV file, default
#        bench/results/ingest-<UTC date>.csv; one row per run is appended).
#
# Three ceilings, all h2o_ceiling: "ceiling" stores nothing; "flush" answers only after an
# fdatasync that covers the request (group flushes of a ring file: the best a gateway that
# acknowledges after a flush can do on this disk); "flush+meta" adds LMDB's commit protocol, a
# meta page that the next flush makes durable, which hookgate's store must follow. Ceiling and
# hookgate runs alternate so that background load on the machine hits them alike.
# Before each run the sink must have been quiet for a second: hookgate delivers what it
# ingested, and that backlog must not eat into the next measurement.
set -u
source "$(dirname "$0")/lib.sh"

HOOKGATE=${1:-${HOOKGATE:-$ROOT/build/hookgate}}
DURATION=${DURATION:-10}
CONNS=${CONNS:-64 256}
THREADS=${THREADS:-2}
REPEAT=${REPEAT:-1}
QUIESCE_MAX=${QUIESCE_MAX:-60}
SUBS=${SUBS:-1}
require_bins h2o_ceiling sink
command -v wrk >/dev/null || { log "wrk not found"; exit 2; }

declare -A RESULTS # "target:conns" -> lines "rps p50 p99 notes"

# Starts h2o_ceiling with extra arguments: start_ceiling NAME [ARGS...]; sets CEILING_URL.
start_ceiling() {
    local name=$1 port
    shift
    port=$(free_port) || exit 1
    CEILING_URL="http://127.0.0.1:$port"
    spawn "${SERVER_PIN[@]}" "$BENCH_BIN/h2o_ceiling" --listen "127.0.0.1:$port" "$@" \
        2>"$BENCH_TMP/$name.log"
    wait_http "$CEILING_URL/healthz" 10 && return 0
    log "h2o_ceiling $* did not start: $(cat "$BENCH_TMP/$name.log")"
    exit 1
}

# Sets CPU_SNAPSHOT to the CPU time so far, in ns: "server loop writer delivery sink wrk idle".
# server: every thread of the process under test; loop, writer, delivery: hookgate's threads
# of those names (0 for a ceiling); sink: the sink's (0 without); wrk: this shell's finished
# children, which wrk is by the time it is read again; idle: the whole machine's idle and
# iowait time. It sets a variable instead of printing because in a $(...) subshell, times
# would count that subshell's children only. Args: server_pid [sink_pid]
cpu_snapshot() {
    local pid=$1 sink=${2:-} kids idle
    times >"$BENCH_TMP/times"
    kids=$(awk 'NR == 2 {
        for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); ns += (t[1] * 60 + t[2]) * 1e9 }
        printf "%.0f", ns }' "$BENCH_TMP/times")
    idle=$(awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { printf "%.0f", ($5 + $6) * 1e9 / hz }' /proc/stat)
    CPU_SNAPSHOT="$(proc_cpu_ns "$pid" '*' hookgate hookgate-wr hookgate-dlv)"
    CPU_SNAPSHOT+=" $([[ -n $sink ]] && proc_cpu_ns "$sink" || echo 0) $kids $idle"
}

# One line of where the CPU went per request during a run, from two cpu_snapshot lines; also
# sets RUN_CPU to the seven figures (µs per request) for the CSV.
# Args: target conns run requests before after
CPU_LINES=()
cpu_line() {
    local target=$1 c=$2 r=$3 n=$4
    RUN_CPU=$(awk -v n="$n" -v a="$5" -v b="$6" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        for (i = 1; i <= 7; i++) printf "%s%.2f", (i > 1 ? " " : ""), (y[i] - x[i]) / n / 1000 }')
    CPU_LINES+=("$(awk -v t="$target" -v c="$c" -v r="$r" -v u="$RUN_CPU" 'BEGIN {
        split(u, us, " ")
        line = sprintf("%-10s %s connections, run %s: %s %.1f", t, c, r,
            t == "hookgate" ? "hookgate" : "server", us[1])
        if (t == "hookgate")
            line = line sprintf(" (loop %.1f, writer %.1f, delivery %.1f), sink %.1f", us[2], us[3], us[4], us[5])
        printf "%s, wrk %.1f, idle %.1f\n", line, us[6], us[7] }')")
}

# Runs wrk with post_event.lua and records one result line and one CPU line.
# Args: target base_url conns run server_pid [sink_pid]
run_wrk() {
    local target=$1 url=$2 c=$3 run=$4 out res non2xx sockerr notes="" before
    cpu_snapshot "$5" "${6:-}"
    before=$CPU_SNAPSHOT
    out=$(WRK_RUN_ID="i$RANDOM$RANDOM${target:0:1}${c}r$run" timeout $((DURATION + 30)) \
        "${CLIENT_PIN[@]}" wrk -t"$THREADS" -c"$c" -d"${DURATION}s" --timeout 10s \
        -s "$BENCH_DIR/post_event.lua" "$url/events" 2>&1)
    printf '%s\n' "$out" >"$BENCH_TMP/wrk-$target-$c-$run.txt"
    res=$(grep '^WRK_RESULT' <<<"$out")
    if [[ -z $res ]]; then
        notes="wrk failed: $(tail -1 <<<"$out" | tr -s ' ')"
        RESULTS[$target:$c]+="0 - - $notes"$'\n'
        RUN_FIELDS=("$target" "$run" "" "" "" "" "" "" "" "" "" "" "" "$notes")
        return
    fi
    cpu_snapshot "$5" "${6:-}"
    cpu_line "$target" "$c" "$run" "$(kv "$res" requests)" "$before" "$CPU_SNAPSHOT"
    # wrk counts status >= 400 itself and prints "Non-2xx or 3xx responses: N".
    non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' <<<"$out")
    sockerr=$(sed -n 's/^ *Socket errors: *//p' <<<"$out")
    [[ -n $non2xx && $non2xx != 0 ]] && notes+="NON-2XX: $non2xx responses; "
    [[ -n $sockerr ]] && notes+="socket errors: $sockerr; "
    RESULTS[$target:$c]+="$(kv "$res" rps) $(kv "$res" p50_ms) $(kv "$res" p99_ms) $notes"$'\n'
    local cpu
    read -ra cpu <<<"$RUN_CPU"
    [[ $target == hookgate ]] || cpu=("${cpu[0]}" "" "" "" "" "${cpu[5]}" "${cpu[6]}")
    RUN_FIELDS=("$target" "$run" "$(kv "$res" requests)" "$(kv "$res" rps)" "$(kv "$res" p50_ms)"
        "$(kv "$res" p99_ms)" "${cpu[@]}" "${notes%; }")
}

# hookgate's store figures from /metrics: "commits operations commit_seconds commits_over_25ms".
store_figures() {
    curl -s -m 5 "$HG_URL/metrics" | awk '
        $1 == "hookgate_store_commit_duration_seconds_count" { c = $2 }
        $1 == "hookgate_store_committed_operations_total" { o = $2 }
        $1 == "hookgate_store_commit_duration_seconds_sum" { s = $2 }
        $1 == "hookgate_store_commit_duration_seconds_bucket{le=\"0.025\"}" { f = $2 }
        END { printf "%d %d %.6f %d\n", c, o, s, c - f }'
}

# One line on what the store did between two store_figures, and STORE_FIELDS for the CSV:
# commits per second, operations per commit, ms per commit, commits over 25 ms.
# Args: conns run before after
STORE_LINES=()
store_line() {
    local c=$1 r=$2 c0 o0 s0 f0 c1 o1 s1 f1
    read -r c0 o0 s0 f0 <<<"$3"
    read -r c1 o1 s1 f1 <<<"$4"
    if ((c1 - c0 <= 0)); then
        STORE_FIELDS=(0 "" "" 0)
        STORE_LINES+=("$c connections, run $r: no commits")
        return
    fi
    read -ra STORE_FIELDS <<<"$(awk -v n="$((c1 - c0))" -v o="$((o1 - o0))" -v s0="$s0" -v s1="$s1" \
        -v slow="$((f1 - f0))" -v d="$DURATION" \
        'BEGIN { printf "%.0f %.1f %.3f %d\n", n / d, o / n, (s1 - s0) * 1000 / n, slow }')"
    local line
    printf -v line '%s connections, run %s: %s commits/s of %s operations, %.2f ms each on average, %s over 25 ms' \
        "$c" "$r" "${STORE_FIELDS[@]}"
    STORE_LINES+=("$line")
}

echo "ingest benchmark: wrk -t$THREADS, ${DURATION}s per run, connections: $CONNS, ~600-byte envelopes, $SUBS matching subscriber(s), $REPEAT run(s) per row"
machine_note
csv_open ingest "subs,conns,target,run,requests,rps,p50_ms,p99_ms,server_us,loop_us,writer_us,delivery_us,sink_us,wrk_us,idle_us,commits_per_s,ops_per_commit,ms_per_commit,commits_over_25ms,notes" ||
    exit 1

# The ceilings: plain h2o storing nothing, then the two that answer after flushes.
start_ceiling ceiling
CEIL_URL=$CEILING_URL CEIL_PID=$LAST_PID
start_ceiling flush --durable "$BENCH_TMP/flush-ring"
FLUSH_URL=$CEILING_URL FLUSH_PID=$LAST_PID
start_ceiling flush-meta --durable "$BENCH_TMP/flush-meta-ring" --meta-page
FLUSH_META_URL=$CEILING_URL FLUSH_META_PID=$LAST_PID

# hookgate: durable ingest, SUBS subscribers (message_created) on a local sink, so deliveries run
# during ingest as they would in production. The sink stands for a remote subscriber: it runs
# on the load side's CPUs, not on hookgate's.
HG_NOTE=""
HG_URL=""
HG_PID=""
sink_port=$(free_port) || exit 1
hg_port=$(free_port) || exit 1
SINK_URL="http://127.0.0.1:$sink_port"
spawn "${CLIENT_PIN[@]}" "$BENCH_BIN/sink" --listen "127.0.0.1:$sink_port" --max-seconds 7200 \
    >"$BENCH_TMP/sink.out" 2>"$BENCH_TMP/sink.err"
SINK_PID=$LAST_PID
mkdir -p "$BENCH_TMP/hg-data"
write_config "$BENCH_TMP/hookgate.json" "127.0.0.1:$hg_port" "$BENCH_TMP/hg-data" '{}' \
    "$(subscribers_json "$SUBS" "$sink_port" 64)"
if ! wait_http "$SINK_URL/count" 10; then
    HG_NOTE="sink did not start: $(cat "$BENCH_TMP/sink.err")"
elif ! start_hookgate "$BENCH_TMP/hookgate.json" "$hg_port" "$BENCH_TMP/hookgate.log"; then
    HG_NOTE="hookgate $HG_WHY"
    HG_URL=""
else
    status=$(probe_post "$HG_URL" "probe-$RANDOM$RANDOM")
    if [[ $status != 202 ]]; then
        HG_NOTE="hookgate answered POST /events with $status instead of 202; not measured"
        HG_URL=""
    fi
fi

# One CSV row for the last run_wrk: csv_run conns [store fields...]
csv_run() {
    local c=$1
    shift
    local store=("$@")
    ((${#store[@]})) || store=("" "" "" "")
    csv_row "$SUBS" "$c" "${RUN_FIELDS[@]:0:13}" "${store[@]}" "${RUN_FIELDS[13]}"
}

for c in $CONNS; do
    for ((r = 1; r <= REPEAT; r++)); do
        run_wrk ceiling "$CEIL_URL" "$c" "$r" "$CEIL_PID"
        csv_run "$c"
        run_wrk flush "$FLUSH_URL" "$c" "$r" "$FLUSH_PID"
        csv_run "$c"
        run_wrk flush+meta "$FLUSH_META_URL" "$c" "$r" "$FLUSH_META_PID"
        csv_run "$c"
        if [[ -n $HG_URL ]]; then
            quiesce "$sink_port"
            before=$(store_figures)
            run_wrk hookgate "$HG_URL" "$c" "$r" "$HG_PID" "$SINK_PID"
            store_line "$c" "$r" "$before" "$(store_figures)"
            csv_run "$c" "${STORE_FIELDS[@]}"
            quiesce "$sink_port"
        fi
    done
done
[[ -n $HG_PID ]] && despawn "$HG_PID" 15

# Median run by req/s; with REPEAT > 1 the notes list every run's req/s.
median() {
    local sorted n
    sorted=$(sed '/^$/d' <<<"$1" | sort -n -k1,1)
    n=$(wc -l <<<"$sorted")
    sed -n "$(((n + 1) / 2))p" <<<"$sorted"
}

echo
printf '%-10s | %5s | %9s | %8s | %8s | %6s | %10s | %s\n' target conns "req/s" "p50 ms" "p99 ms" \
    ratio "flush+meta" notes
printf '%s\n' "-----------+-------+-----------+----------+----------+--------+------------+------"
for c in $CONNS; do
    ceil_rps=""
    meta_rps=""
    for target in ceiling flush flush+meta hookgate; do
        [[ -n ${RESULTS[$target:$c]:-} ]] || continue
        read -r rps p50 p99 notes <<<"$(median "${RESULTS[$target:$c]}")"
        if ((REPEAT > 1)); then
            notes="runs: $(sed '/^$/d' <<<"${RESULTS[$target:$c]}" | cut -d' ' -f1 | paste -sd/) $notes"
        fi
        # Any run with errors taints the row, not only the median one.
        bad=$(sed '/^$/d' <<<"${RESULTS[$target:$c]}" | cut -d' ' -f4- | sed 's/ *$//' | grep -v '^$' | head -1)
        [[ -n $bad && $notes != *"$bad"* ]] && notes+=" $bad"
        r="-"
        rm="-"
        case $target in
        ceiling) ceil_rps=$rps ;;
        flush) r=$(ratio "$rps" "$ceil_rps") ;;
        flush+meta)
            meta_rps=$rps
            r=$(ratio "$rps" "$ceil_rps")
            ;;
        hookgate)
            r=$(ratio "$rps" "$ceil_rps")
            rm=$(ratio "$rps" "$meta_rps")
            ;;
        esac
        printf '%-10s | %5s | %9s | %8s | %8s | %6s | %10s | %s\n' "$target" "$c" "$rps" "$p50" "$p99" \
            "$r" "$rm" "$notes"
    done
done
[[ -n $HG_NOTE ]] && echo "hookgate: $HG_NOTE -- only the ceilings were measured"
if ((${#STORE_LINES[@]} > 0)); then
    echo "hookgate's store commits during each run (its /metrics; a commit includes its data flush):"
    printf '  %s\n' "${STORE_LINES[@]}"
fi
if ((${#CPU_LINES[@]} > 0)); then
    echo "CPU time per request during each run, in µs (idle: the machine's idle CPU time; where it is"
    echo "near 0 the run was bound by the CPUs, where it is large by waiting, on flushes for instance):"
    printf '  %s\n' "${CPU_LINES[@]}"
fi
echo "ratio = req/s / ceiling req/s at the same connection count (ceiling: h2o storing nothing);" \
    "flush+meta = hookgate req/s / flush+meta req/s (h2o answering as LMDB's commit protocol allows)"
echo "CSV (one row per run): ${CSV_FILE#"$ROOT"/}"
exit 0
