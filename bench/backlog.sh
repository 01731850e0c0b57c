#!/usr/bin/env bash
# backlog.sh -- backlog at scale: builds N pending deliveries for one subscriber whose sink is
# stopped, then resumes the sink and measures the drain. Per step: ingest or drain rate, the
# backlog, and hookgate's RSS split into anonymous memory and file pages (LMDB's map).
# Writes one CSV row per step and draws an SVG (gnuplot).
#
# usage: bench/backlog.sh [HOOKGATE_BINARY]
# env:   HOOKGATE (default build/hookgate), BACKLOG_EVENTS N (5000000), STEP_EVENTS events per
#        step (N/50, at most 100000), BATCH envelopes per POST (1000), CONNS producer
#        connections (4), MAX_IN_FLIGHT of the subscriber (64), BACKLOG_MODE auto|pause|hold
#        (auto: pause when the gateway has POST /admin/subscribers/{name}/pause, else hold),
#        RUN_MAX overall seconds (1800), BUILD_MAX seconds for the build (RUN_MAX / 2), STALL_S
#        seconds without a delivery that end the drain (30), RSS_MAX_MIB (128), OUT path prefix
#        of the CSV and SVG (bench/results/backlog-<UTC date>), BENCH_PIN=0, BENCH_BIN
#        (build/bench), KEEP_TMP=1 keeps logs and data, PROBE_MIB MiB the page-cache probe
#        writes after the run (1024; 0 skips it).
# Columns user_us_per_event and sys_us_per_event split hookgate's CPU per event into its own
# code and the kernel's; the summary prints both for the first and last windows.
# Exit status: 0 measured (targets met or not: the summary says), 1 failed, 2 usage,
# 77 skipped (hookgate missing or not working).
#
# Stopping the subscriber without a retry storm:
#   pause: the subscriber is paused through the admin API while the backlog is built (nothing
#          is claimed or attempted) and resumed for the drain; the sink is also SIGSTOPped.
#   hold:  the sink is SIGSTOPped and the subscriber has timeout_ms = 1 h, so its max_in_flight
#          attempts hang on the stopped sink and nothing else is claimed; should one fail all
#          the same, retry.initial_delay_ms = 1 h makes it wait instead of retrying at once.
# A schedule where every delivery fails once and waits an hour could not be drained within
# the run: nothing can make pending (not dead) deliveries due earlier, so hold is the fallback.
set -u
source "$(dirname "$0")/lib.sh"

HOOKGATE=${1:-${HOOKGATE:-$ROOT/build/hookgate}}
N=${BACKLOG_EVENTS:-5000000}
BATCH=${BATCH:-1000}
CONNS=${CONNS:-4}
MAX_IN_FLIGHT=${MAX_IN_FLIGHT:-64}
BACKLOG_MODE=${BACKLOG_MODE:-auto}
RUN_MAX=${RUN_MAX:-1800}
RSS_MAX_MIB=${RSS_MAX_MIB:-128}
STALL_S=${STALL_S:-30}
PROBE_MIB=${PROBE_MIB:-1024}
require_bins sink paced_post pagecache_probe

for v in N BATCH CONNS MAX_IN_FLIGHT RUN_MAX RSS_MAX_MIB STALL_S; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || { log "$v must be a positive integer (got '${!v}')"; exit 2; }
done
[[ $BACKLOG_MODE =~ ^(auto|pause|hold)$ ]] || { log "BACKLOG_MODE must be auto, pause or hold"; exit 2; }
((BATCH <= 1000)) || { log "BATCH must be at most 1000 (a batch's limit)"; exit 2; }
STEP=${STEP_EVENTS:-$((N / 50 < 100000 ? N / 50 : 100000))}
[[ $STEP =~ ^[0-9]+$ ]] || { log "STEP_EVENTS must be a positive integer"; exit 2; }
STEP=$((STEP / BATCH * BATCH)) # whole batches
((STEP >= BATCH)) || STEP=$BATCH
((N >= 2 * STEP)) || { log "BACKLOG_EVENTS must be at least two steps ($((2 * STEP)))"; exit 2; }
BUILD_MAX=${BUILD_MAX:-$((RUN_MAX / 2))}
[[ $BUILD_MAX =~ ^[1-9][0-9]*$ ]] || { log "BUILD_MAX must be a positive integer"; exit 2; }

# The store keeps every event (retention keeps delivered events for 168 h): about 1.2 KiB per
# 600-byte event with its delivery and indexes, more while B-tree pages are half full. The map
# is a sparse file, so 4 KiB per event plus 1 GiB costs nothing until used; the disk needs the
# data file's real size.
MAP_MB=$((N * 4 / 1024 + 1024))
NEED_MB=$((N * 2 / 1024 + 256))
free_mb=$(df -Pm "$BENCH_TMP" | awk 'NR == 2 { print $4 }')
if [[ $free_mb =~ ^[0-9]+$ ]] && ((free_mb < NEED_MB)); then
    log "$BENCH_TMP has $free_mb MiB free; $N events need about $NEED_MB MiB: set TMPDIR"
    exit 2
fi

OUT=${OUT:-$BENCH_DIR/results/backlog-$(date -u +%Y-%m-%d)}
[[ -e $OUT.csv ]] && OUT=$OUT-$(date -u +%H%M%S)
mkdir -p "$(dirname "$OUT")" || exit 2
CSV=$OUT.csv
SVG=$OUT.svg
COLS="phase,step,elapsed_s,events,backlog,step_events,step_s,rate_eps,acked_eps,req_p50_ms,req_p99_ms,vmrss_kib,rss_anon_kib,rss_file_kib,rss_anon_max_kib,rss_file_max_kib,vmhwm_kib,store_file_mib,store_used_mib,cpu_us_per_event,dlv_cpu_us_per_event,load1,cpu_psi,user_us_per_event,sys_us_per_event,refaults"
echo "$COLS" >"$CSV"

START=$(date +%s)
DEADLINE=$((START + RUN_MAX))
START_NS=$(date +%s%N)
elapsed() { awk -v a="$(date +%s%N)" -v b="$START_NS" 'BEGIN { printf "%.1f", (a - b) / 1e9 }'; }

# Sums the samples of a metric (all label sets, or those with label $2) from one /metrics
# scrape in $METRICS.
metric() {
    metric_sum "$METRICS" "$1" "${2:-}"
    echo "$METRIC"
}
scrape() { METRICS=$(curl -s -m 10 "$HG_URL/metrics"); }

# hookgate's memory from /proc: VmRSS = RssAnon (heap, stacks) + RssFile (mapped file pages:
# LMDB's map, the binary and its libraries) + RssShmem; VmHWM is the peak VmRSS. Sets RSS_*
# (KiB) and keeps the largest anon and file values seen in RSS_ANON_MAX / RSS_FILE_MAX.
RSS_ANON_MAX=0
RSS_FILE_MAX=0
read_rss() {
    local key value
    RSS_VM=0 RSS_ANON=0 RSS_FILE=0 RSS_HWM=0
    # bash alone: the drain calls this every 0.1 s
    while read -r key value _; do
        case $key in
        VmRSS:) RSS_VM=$value ;;
        RssAnon:) RSS_ANON=$value ;;
        RssFile:) RSS_FILE=$value ;;
        VmHWM:) RSS_HWM=$value ;;
        esac
    done 2>/dev/null <"/proc/$HG_PID/status"
    ((RSS_ANON > RSS_ANON_MAX)) && RSS_ANON_MAX=$RSS_ANON
    ((RSS_FILE > RSS_FILE_MAX)) && RSS_FILE_MAX=$RSS_FILE
    return 0
}
# CPU time hookgate has used, in ns, from every thread's schedstat: all threads (CPU_NS) and
# the delivery worker alone (DLV_NS, the thread named hookgate-dlv). Per step, CPU per event
# tells the gateway's own cost apart from a rate that fell because others took the CPU.
# USER_T / SYS_T: the process's user and kernel time in clock ticks (/proc/PID/stat), which
# tell the gateway's own work apart from the kernel's (page cache, I/O).
CPU_NS=0
DLV_NS=0
USER_T=0
SYS_T=0
CLK_TCK=$(getconf CLK_TCK)
read_cpu() {
    local stat
    read -r CPU_NS DLV_NS <<<"$(proc_cpu_ns "$HG_PID" '*' hookgate-dlv)"
    # Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    stat=$(cat "/proc/$HG_PID/stat" 2>/dev/null) && read -r _ _ _ _ _ _ _ _ _ _ _ USER_T SYS_T _ <<<"${stat##*) }"
}
# File pages read back after the kernel had dropped them (system-wide, /proc/vmstat), since
# the previous step: a store bigger than what the kernel keeps cached is read from disk again.
REFAULTS=0
read_refaults() { REFAULTS=$(awk '$1 == "workingset_refault_file" { print $2 }' /proc/vmstat 2>/dev/null); REFAULTS=${REFAULTS:-0}; }
read_refaults
psi_cpu() { sed -n 's/^some avg10=\([0-9.]*\).*/\1/p' /proc/pressure/cpu 2>/dev/null || echo nan; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
bytes_mib() { awk -v b="$1" 'BEGIN { if (b == "nan") print "nan"; else printf "%.1f", b / 1048576 }'; }

# One CSV row and one progress line. Args: phase step events backlog step_events step_s rate
# acked_rate p50 p99
record() {
    local store_file store_used cpu_prev=$CPU_NS dlv_prev=$DLV_NS user_prev=$USER_T sys_prev=$SYS_T
    local cpu_us dlv_us user_us sys_us refaults_prev=$REFAULTS
    read_rss
    read_cpu
    read_refaults
    cpu_us=$(awk -v d="$((CPU_NS - cpu_prev))" -v n="$5" 'BEGIN { printf "%.2f", d / 1000 / n }')
    dlv_us=$(awk -v d="$((DLV_NS - dlv_prev))" -v n="$5" 'BEGIN { printf "%.2f", d / 1000 / n }')
    user_us=$(awk -v d="$((USER_T - user_prev))" -v n="$5" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", d * 1e6 / hz / n }')
    sys_us=$(awk -v d="$((SYS_T - sys_prev))" -v n="$5" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", d * 1e6 / hz / n }')
    store_file=$(bytes_mib "$(metric hookgate_store_file_bytes)")
    store_used=$(bytes_mib "$(metric hookgate_store_used_bytes)")
    echo "$1,$2,$(elapsed),$3,$4,$5,$6,$7,$8,$9,${10},$RSS_VM,$RSS_ANON,$RSS_FILE,$RSS_ANON_MAX,$RSS_FILE_MAX,$RSS_HWM,$store_file,$store_used,$cpu_us,$dlv_us,$(cut -d' ' -f1 /proc/loadavg),$(psi_cpu),$user_us,$sys_us,$((REFAULTS - refaults_prev))" >>"$CSV"
    log "$(printf '[%6.1fs] %-5s step %3d: %8d events, %7s ev/s, backlog %8s, RSS %s MiB (anon %s, file %s), store %s MiB, CPU %s us/event, load %s, psi cpu %s' \
        "$(elapsed)" "$1" "$2" "$3" "$7" "$4" "$(mib "$RSS_VM")" "$(mib "$RSS_ANON")" "$(mib "$RSS_FILE")" \
        "$store_used" "$cpu_us" "$(cut -d' ' -f1 /proc/loadavg)" "$(psi_cpu)")"
}

echo "backlog benchmark: $N events in steps of $STEP, batches of $BATCH over $CONNS connection(s), one subscriber (max_in_flight $MAX_IN_FLIGHT), map_size_mb $MAP_MB"
machine_note

# 1. The sink and hookgate.
sink_port=$(free_port) || exit 1
hg_port=$(free_port) || exit 1
SINK_URL="http://127.0.0.1:$sink_port"
spawn "${CLIENT_PIN[@]}" "$BENCH_BIN/sink" --listen "127.0.0.1:$sink_port" --max-seconds $((RUN_MAX + 120)) \
    >"$BENCH_TMP/sink.out" 2>"$BENCH_TMP/sink.err"
SINK_PID=$LAST_PID
# A stopped sink would hold SIGTERM until continued: let it run again before the cleanup stops it.
trap 'kill -CONT "$SINK_PID" 2>/dev/null; bench_cleanup' EXIT
wait_http "$SINK_URL/count" 10 || { log "sink did not start: $(cat "$BENCH_TMP/sink.err")"; exit 1; }
mkdir -p "$BENCH_TMP/hg-data"
# timeout_ms and the retry delays at their 1 h maximum: see "hold" above.
cat >"$BENCH_TMP/hookgate.json" <<EOF
{
  "listen": "127.0.0.1:$hg_port",
  "data_dir": "$BENCH_TMP/hg-data",
  "map_size_mb": $MAP_MB,
  "retry": {"initial_delay_ms": 3600000, "max_delay_ms": 3600000, "max_attempts": 10},
  "subscribers": [
    {"name": "backlog", "url": "$SINK_URL/backlog", "events": ["message_created"],
     "max_in_flight": $MAX_IN_FLIGHT, "timeout_ms": 3600000}
  ]
}
EOF
if ! start_hookgate "$BENCH_TMP/hookgate.json" "$hg_port" "$BENCH_TMP/hookgate.log"; then
    echo "hookgate $HG_WHY -- skipped (this benchmark has no ceiling run)"
    exit 77
fi
if [[ $(probe_post "$HG_URL" "probe$RANDOM$RANDOM" batch) != 202 ]]; then
    echo "hookgate does not answer a batch POST /events with 202 -- skipped"
    exit 77
fi
for ((i = 0; i < 100; i++)); do # the probe's 2 deliveries, at most 10 s
    sink_count "$sink_port" && ((SINK_COUNT >= 2)) && break
    nap 0.1
done
base=${SINK_COUNT:-0}

# 2. Stop the subscriber: pause it if the gateway can, else hold its attempts on the stopped sink.
kill -STOP "$SINK_PID"
MODE=hold
if [[ $BACKLOG_MODE != hold ]]; then
    code=$(curl -s -o "$BENCH_TMP/pause.out" -m 10 -w '%{http_code}' -X POST "$HG_URL/admin/subscribers/backlog/pause")
    if [[ $code == 2?? ]]; then
        MODE=pause
    elif [[ $BACKLOG_MODE == pause ]]; then
        log "BACKLOG_MODE=pause but POST /admin/subscribers/backlog/pause answered $code: $(head -c 300 "$BENCH_TMP/pause.out")"
        exit 1
    fi
fi
case $MODE in
pause) echo "stopped subscriber: pause (POST /admin/subscribers/backlog/pause; the sink is SIGSTOPped too), resumed for the drain" ;;
hold) echo "stopped subscriber: hold ($([[ $BACKLOG_MODE == hold ]] && echo "BACKLOG_MODE=hold" || echo "no pause API in this build"): the sink is SIGSTOPped, the subscriber's $MAX_IN_FLIGHT attempts wait on it with timeout_ms 1 h, nothing else is claimed; retry delay 1 h)" ;;
esac

# 3. Build: steps of STEP events, each one paced_post run (as fast as it goes, CONNS
# connections, BATCH envelopes per request), until N or BUILD_MAX.
run_id="bl$RANDOM$RANDOM"
built=0
step=0
build_note=""
read_cpu
t_build=$(date +%s.%N)
while ((built < N)); do
    if (($(date +%s) - START >= BUILD_MAX)); then
        build_note="BUILD_MAX ($BUILD_MAX s) reached after $built events"
        log "$build_note"
        break
    fi
    step=$((step + 1))
    count=$((N - built < STEP ? N - built : STEP))
    out=$(timeout 330 "${CLIENT_PIN[@]}" "$BENCH_BIN/paced_post" --url "$HG_URL/events" --count "$count" \
        --rate 0 --batch "$BATCH" --connections "$CONNS" --id-prefix "$run_id-$step" --timeout-s 300 2>&1)
    res=$(grep '^paced_post:' <<<"$out")
    ok=$(kv "$res" ok)
    if [[ -z $res || $ok != "$count" ]]; then
        build_note="step $step: ingest failed (${res:-$(tail -2 <<<"$out" | tr '\n' ' ')})"
        log "$build_note"
        [[ $ok =~ ^[0-9]+$ ]] && built=$((built + ok))
        break
    fi
    built=$((built + ok))
    scrape
    record build "$step" "$built" "$(metric hookgate_pending_deliveries)" "$ok" "$(kv "$res" seconds)" \
        "$(kv "$res" events_per_s)" "" "$(kv "$res" p50_ms)" "$(kv "$res" p99_ms)"
done
build_s=$(awk -v a="$(date +%s.%N)" -v b="$t_build" 'BEGIN { printf "%.1f", a - b }')
scrape
backlog_built=$(metric hookgate_pending_deliveries)
echo "built: $built events in $build_s s, backlog $backlog_built pending deliveries${build_note:+ ($build_note)}"

# 4. Drain: resume the sink (and the subscriber), one step per STEP deliveries, until all built
# events (and the probe's) are delivered or RUN_MAX.
ok_prev=$(metric hookgate_deliveries_total 'outcome="success"') # scraped after the build
# The clock starts when the sink runs again (hold) or when the subscriber is resumed (pause).
read_cpu
t_drain=$(date +%s.%N)
kill -CONT "$SINK_PID"
if [[ $MODE == pause ]]; then
    code=$(curl -s -o "$BENCH_TMP/resume.out" -m 10 -w '%{http_code}' -X POST "$HG_URL/admin/subscribers/backlog/resume")
    [[ $code == 2?? ]] || { log "POST /admin/subscribers/backlog/resume answered $code: $(head -c 300 "$BENCH_TMP/resume.out")"; exit 1; }
fi
target=$((base + built))
drain_note=""
t_prev=$t_drain
c_prev=$base
next=$((base + STEP))
step=0
c=$base
c_moved=$c
t_moved=$EPOCHSECONDS
while ((c < target)); do # bounded by DEADLINE
    if ((EPOCHSECONDS >= DEADLINE)); then
        drain_note="RUN_MAX ($RUN_MAX s) reached with $((target - c)) deliveries left"
        log "$drain_note"
        break
    fi
    nap 0.1
    read_rss
    # The sink's count, and read_rss above, start no process (see nap in lib.sh): the sink
    # shares its CPU with this script.
    sink_count "$sink_port" || { c=$c_prev; continue; }
    c=$SINK_COUNT
    # Nothing delivered for STALL_S: the rest failed and waits an hour, or the gateway is stuck.
    if ((c > c_moved)); then
        c_moved=$c
        t_moved=$EPOCHSECONDS
    elif ((EPOCHSECONDS - t_moved >= STALL_S)); then
        drain_note="no delivery for $STALL_S s with $((target - c)) left"
        log "$drain_note"
        break
    fi
    if ((c >= next || c >= target)); then
        now=$(date +%s.%N)
        scrape
        step=$((step + 1))
        dt=$(awk -v a="$now" -v b="$t_prev" 'BEGIN { printf "%.3f", a - b }')
        ok_now=$(metric hookgate_deliveries_total 'outcome="success"')
        record drain "$step" "$((c - base))" "$(metric hookgate_pending_deliveries)" "$((c - c_prev))" "$dt" \
            "$(awk -v n="$((c - c_prev))" -v t="$dt" 'BEGIN { printf "%.0f", n / t }')" \
            "$(awk -v n="$ok_now" -v p="$ok_prev" -v t="$dt" 'BEGIN { if (n == "nan" || p == "nan") print "nan"; else printf "%.0f", (n - p) / t }')" "" ""
        t_prev=$now
        c_prev=$c
        ok_prev=$ok_now
        while ((next <= c)); do next=$((next + STEP)); done
    fi
done
drain_s=$(awk -v a="$(date +%s.%N)" -v b="$t_drain" 'BEGIN { printf "%.1f", a - b }')
scrape
echo "drained: $((c - base)) deliveries in $drain_s s ($(awk -v n="$((c - base))" -v t="$drain_s" 'BEGIN { printf "%.0f", (t > 0 ? n / t : 0) }') deliveries/s), backlog now $(metric hookgate_pending_deliveries), failed attempts $(metric hookgate_deliveries_total 'outcome="failure"')${drain_note:+ ($drain_note)}"

# 5. Summary, from the CSV. Windows: the first and last min(1,000,000, built/5) events of the build
# and the first and last fifth of the drain, in whole steps; a window's rate is its events over
# its seconds, its CPU per event from the steps' CPU time.
echo
"$PY" - "$CSV" "$RSS_MAX_MIB" <<'EOF'
import csv, sys

rows = list(csv.DictReader(open(sys.argv[1])))
rss_max = float(sys.argv[2])

def window(steps, want, last):
    picked, events = [], 0
    for r in (reversed(steps) if last else steps):
        if events >= want:
            break
        picked.append(r)
        events += int(r["step_events"])
    secs = sum(float(r["step_s"]) for r in picked)
    per = lambda col: (sum(float(r[col]) * int(r["step_events"]) for r in picked) / events
                       if events else float("nan"))
    return (events, (events / secs if secs > 0 else float("nan")), per("cpu_us_per_event"),
            per("user_us_per_event"), per("sys_us_per_event"))

def compare(label, steps, want, lo, hi, what):
    if len(steps) < 2:
        return
    e1, r1, c1, u1, s1 = window(steps, want, False)
    e2, r2, c2, u2, s2 = window(steps, want, True)
    q = r2 / r1 if r1 > 0 else float("nan")
    cq = c2 / c1 if c1 > 0 else float("nan")
    ok = "PASS" if lo <= q <= hi else "MISS"
    print(f"{label}: first {e1} events {r1:.0f}/s ({c1:.1f} us CPU each: user {u1:.1f}, kernel {s1:.1f}), "
          f"last {e2} events {r2:.0f}/s ({c2:.1f} us CPU each: user {u2:.1f}, kernel {s2:.1f}), "
          f"ratio {q:.2f} (target {what}): {ok}")
    if ok == "MISS" and 0.8 <= cq <= 1.25:
        print(f"  hookgate's own CPU per event did not change (ratio {cq:.2f}): the rate moved because "
              f"other work took the CPU (cpu_psi in the CSV), not because of the backlog")

build = [r for r in rows if r["phase"] == "build"]
drain = [r for r in rows if r["phase"] == "drain"]
built = int(build[-1]["events"]) if build else 0
compare("ingest rate", build, min(1000000, built // 5), 0.8, float("inf"), ">= 0.80")
if len(drain) >= 5:
    compare("drain rate", drain, sum(int(r["step_events"]) for r in drain) // 5, 0.8, 1.25, "flat, 0.80-1.25")
for name, steps in (("build", build), ("drain", drain)):
    refaulted = sum(int(r["refaults"]) for r in steps)
    if refaulted:
        print(f"{name}: {refaulted} file pages ({refaulted * 4 / 1048576:.1f} GiB) read back after the "
              f"kernel had dropped them from its cache (workingset_refault_file)")
def peak(col):
    return max((int(r[col]) for r in rows), default=0) / 1024
hwm, anon, file_ = peak("vmhwm_kib"), peak("rss_anon_max_kib"), peak("rss_file_max_kib")
verdict = lambda v: "PASS" if v < rss_max else "MISS"
print(f"RSS max: VmHWM {hwm:.1f} MiB = RssAnon (heap, stacks) up to {anon:.1f} MiB + RssFile up to "
      f"{file_:.1f} MiB (LMDB's map pages the process has read, and the binary: page cache the kernel "
      f"can reclaim); target < {rss_max:g} MiB: anon {verdict(anon)}, total {verdict(hwm)}")
EOF
# What growing the page cache costs here (after the run, so that it does not warm the memory
# the run then uses): the store's file grows by the same kind of writes.
if ((PROBE_MIB > 0)); then
    probe=$("$BENCH_BIN/pagecache_probe" "$BENCH_TMP" "$PROBE_MIB" 2>&1)
    echo "page cache growth on this machine (bench/pagecache_probe, $PROBE_MIB MiB written twice): $(sed -n 's/^pagecache_probe: //p' <<<"$probe") (us of CPU per 4 KiB page: fresh = memory the kernel had not used lately, reused = pages just freed)"
fi
echo "mode: $MODE; $(machine_note) (at the end)"

rc=0
[[ -n $build_note || -n $drain_note ]] && rc=1
draw_svg "$BENCH_DIR/backlog.gp" "$CSV" "$SVG" \
    "rssmax=$RSS_MAX_MIB; title='$(date -u +%Y-%m-%d), $N events, batches of $BATCH over $CONNS connections, mode $MODE, $NCPU CPUs'" || rc=1
echo "csv: $CSV"
exit $rc
