# lib.sh -- shared helpers for the bench scripts (sourced, not run): paths, ports, CPU pinning, process cleanup.
# shellcheck shell=bash disable=SC2034  # variables here are used by the scripts that source this file

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
# Where the bench executables were built (meson puts them in <builddir>/bench).
BENCH_BIN=${BENCH_BIN:-$ROOT/build/bench}
PY=${PY:-/usr/bin/python3}

BENCH_PIDS=()
BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/hookgate-bench.XXXXXX")

log() { printf '%s\n' "$*" >&2; }

# Stops one process we started: SIGTERM, up to $2 seconds (default 10) of grace, then SIGKILL.
stop_pid() {
    local pid=$1 grace=${2:-10} i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}

bench_cleanup() {
    local pid
    for pid in "${BENCH_PIDS[@]}"; do
        stop_pid "$pid" 3
    done
    BENCH_PIDS=()
    if [[ -n ${KEEP_TMP:-} ]]; then
        log "kept $BENCH_TMP"
    else
        rm -rf "$BENCH_TMP"
    fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# Runs "$@" in the background, remembers its pid for cleanup, and stores it in $LAST_PID.
spawn() {
    "$@" &
    LAST_PID=$!
    BENCH_PIDS+=("$LAST_PID")
}

# Forgets and stops a process started with spawn.
despawn() {
    local pid=$1 grace=${2:-10} keep=() p
    stop_pid "$pid" "$grace"
    for p in "${BENCH_PIDS[@]}"; do
        [[ $p == "$pid" ]] || keep+=("$p")
    done
    BENCH_PIDS=("${keep[@]}")
}

# Prints a random loopback port nobody listens on and that this run has not handed out yet.
# It is drawn from below the kernel's ephemeral range, so outgoing connections (wrk, curl)
# cannot be holding it as their local port by the time our server binds it.
USED_PORTS=" "
EPHEMERAL_LOW=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
((EPHEMERAL_LOW > 12000)) || EPHEMERAL_LOW=32768
free_port() {
    local p i
    for ((i = 0; i < 100; i++)); do
        p=$((10000 + RANDOM % (EPHEMERAL_LOW - 10000)))
        [[ $USED_PORTS == *" $p "* ]] && continue
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            USED_PORTS+="$p "
            echo "$p"
            return 0
        fi
    done
    log "no free port found"
    return 1
}

# Waits until URL answers 200, for at most $2 seconds (default 10).
wait_http() {
    local url=$1 secs=${2:-10} i
    for ((i = 0; i < secs * 10; i++)); do
        [[ $(curl -s -o /dev/null -m 1 -w '%{http_code}' "$url" 2>/dev/null) == 200 ]] && return 0
        sleep 0.1
    done
    return 1
}

# CPU layout: the process under test gets the first half of the CPUs, the load generator
# (wrk, the ingest client, or the sink in delivery runs) the second half. Prefix commands with
# "${SERVER_PIN[@]}" / "${CLIENT_PIN[@]}" (arrays, not functions, so $! is the real process).
# BENCH_PIN=0 turns pinning off (everything shares all CPUs, as on a box running only hookgate).
NCPU=$(nproc 2>/dev/null || echo 1)
if [[ ${BENCH_PIN:-1} == 0 ]]; then
    SERVER_PIN=()
    CLIENT_PIN=()
    PIN_NOTE="not pinned (BENCH_PIN=0): tested process and load side share all $NCPU CPU(s)"
elif ((NCPU >= 2)); then
    SERVER_CPUS="0-$((NCPU / 2 - 1))"
    CLIENT_CPUS="$((NCPU / 2))-$((NCPU - 1))"
    SERVER_PIN=(taskset -c "$SERVER_CPUS")
    CLIENT_PIN=(taskset -c "$CLIENT_CPUS")
    # The script itself (its polling curl, sleep and awk) runs on the load side too: a poll
    # every 50 ms must not take turns with the process under test. Processes started with
    # SERVER_PIN get their own CPUs whatever the script's.
    taskset -cp "$CLIENT_CPUS" $$ >/dev/null 2>&1
    PIN_NOTE="pinned: tested process on CPUs $SERVER_CPUS, load side and this script on CPUs $CLIENT_CPUS"
else
    SERVER_PIN=()
    CLIENT_PIN=()
    PIN_NOTE="1 CPU: no pinning (numbers are pessimistic)"
fi

require_bins() {
    local b
    for b in "$@"; do
        if [[ ! -x $BENCH_BIN/$b ]]; then
            log "missing $BENCH_BIN/$b: build it (meson compile -C build bench/$b) or set BENCH_BIN"
            exit 2
        fi
    done
}

machine_note() {
    echo "machine: $NCPU CPU(s), load average $(cut -d' ' -f1-3 /proc/loadavg); $PIN_NOTE"
}

# Writes a hookgate config. Args: file listen data_dir retry_json subscribers_json. The map is
# large (16 GiB, a sparse file) so that runs of millions of events never fill it.
write_config() {
    cat >"$1" <<EOF
{
  "listen": "$2",
  "data_dir": "$3",
  "map_size_mb": 16384,
  "retry": $4,
  "subscribers": $5
}
EOF
}

# Builds the subscribers array: N subscribers named bench1..N, all on the sink at /s1../sN.
# Args: count sink_port max_in_flight
subscribers_json() {
    local n=$1 port=$2 inflight=$3 i sep=""
    printf '['
    for ((i = 1; i <= n; i++)); do
        printf '%s\n    {"name": "bench%d", "url": "http://127.0.0.1:%d/s%d", "events": ["message_created"], "max_in_flight": %d}' \
            "$sep" "$i" "$port" "$i" "$inflight"
        sep=","
    done
    printf '\n  ]'
}

# Starts hookgate with a config; sets HG_PID and HG_URL. Returns non-zero (after saying why)
# when the binary is missing, rejects the config, or does not become healthy.
# Args: config_file listen_port log_file
start_hookgate() {
    local cfg=$1 port=$2 logf=$3 out rc
    HG_PID=""
    HG_URL="http://127.0.0.1:$port"
    if [[ ! -x $HOOKGATE ]]; then
        HG_WHY="not available: $HOOKGATE is not an executable"
        return 1
    fi
    out=$(timeout 10 "$HOOKGATE" --config "$cfg" --check 2>&1)
    rc=$?
    if ((rc != 0)); then
        HG_WHY="--check failed on the bench config (exit $rc): $(printf '%s' "${out:-no output}" | head -3 | tr '\n' ' ')"
        return 1
    fi
    spawn "${SERVER_PIN[@]}" "$HOOKGATE" --config "$cfg" 2>"$logf"
    HG_PID=$LAST_PID
    if ! wait_http "$HG_URL/healthz" 10; then
        HG_WHY="did not answer GET /healthz with 200 within 10 s (log: $(tail -3 "$logf" | tr '\n' ' '))"
        despawn "$HG_PID" 3
        HG_PID=""
        return 1
    fi
    return 0
}

# POSTs one envelope (or a batch when $3 = batch) and prints the HTTP status.
probe_post() {
    local url=$1 id=$2 body
    if [[ ${3:-} == batch ]]; then
        body="[{\"type\":\"message_created\",\"id\":\"$id-a\",\"payload\":{}},{\"type\":\"message_created\",\"id\":\"$id-b\",\"payload\":{}}]"
    else
        body="{\"type\":\"message_created\",\"id\":\"$id\",\"occurred_at\":\"2026-11-27T10:00:00Z\",\"payload\":{\"probe\":true}}"
    fi
    curl -s -o /dev/null -m 10 -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$body" "$url/events"
}

# Reads key=value pairs of one line: kv "a=1 b=2" b -> 2
kv() {
    local line=$1 key=$2 tok
    for tok in $line; do
        [[ $tok == "$key="* ]] && { echo "${tok#*=}"; return 0; }
    done
    echo ""
}

# CPU time a process has used so far, in ns, from its threads' schedstat, in one pass over
# them: proc_cpu_ns PID [NAME...] prints one sum per NAME, over the threads of that name, or
# over all of them for "*" (the default when no NAME is given).
proc_cpu_ns() {
    local pid=$1 t ns comm i
    shift
    local names=("${@:-*}") sums=()
    for i in "${!names[@]}"; do sums[i]=0; done
    for t in /proc/"$pid"/task/*; do
        { read -r ns _ <"$t/schedstat" && read -r comm <"$t/comm"; } 2>/dev/null || continue
        for i in "${!names[@]}"; do
            [[ ${names[i]} == '*' || ${names[i]} == "$comm" ]] && sums[i]=$((sums[i] + ns))
        done
    done
    echo "${sums[*]}"
}

# Polls that start no process. A script's poll loop shares its CPUs with the sink, and a
# fork and exec per poll (curl, sleep, date) takes several ms of the sink's CPU 20 times a
# second; a ceiling that runs to its end is never polled, so its run would not pay that.
# nap SECONDS sleeps (read's timeout on a FIFO that nobody writes).
nap() {
    if [[ -z ${NAP_FD:-} ]]; then
        mkfifo "$BENCH_TMP/nap" && exec {NAP_FD}<>"$BENCH_TMP/nap" || return 1
    fi
    read -r -t "$1" -u "$NAP_FD" _
    return 0
}
# http_get PORT PATH GETs http://127.0.0.1:PORT/PATH over bash's /dev/tcp and sets HTTP_BODY
# to the answer's body (its lines joined with newlines). Returns 1 when it cannot connect,
# with HTTP_BODY empty. The status is not checked: the callers validate what they read.
http_get() {
    local fd line in_body=0
    HTTP_BODY=""
    { exec {fd}<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
    printf 'GET %s HTTP/1.0\r\n\r\n' "$2" >&"$fd"
    while IFS= read -r -t 5 line <&"$fd" || [[ -n $line ]]; do
        line=${line%$'\r'}
        if ((in_body)); then
            HTTP_BODY+=${HTTP_BODY:+$'\n'}$line
        elif [[ -z $line ]]; then
            in_body=1
        fi
        line=""
    done
    exec {fd}<&-
}
# sink_count PORT sets SINK_COUNT to the bench sink's request count (its GET /count, which
# also flushes the sink's latency log), starting no process; returns 1, with SINK_COUNT
# empty, when the sink did not answer with a number.
sink_count() {
    http_get "$1" /count
    SINK_COUNT=$HTTP_BODY
    [[ $SINK_COUNT =~ ^[0-9]+$ ]] || { SINK_COUNT=""; return 1; }
}
# quiesce PORT waits (at most QUIESCE_MAX seconds) until the sink's count has not moved for
# a second: the gateway has delivered what the last run ingested.
quiesce() {
    local prev=-1 i
    for ((i = 0; i < QUIESCE_MAX; i++)); do
        sink_count "$1"
        [[ $SINK_COUNT == "$prev" ]] && return 0
        prev=$SINK_COUNT
        nap 1
    done
    log "hookgate was still delivering after $QUIESCE_MAX s (sink count $SINK_COUNT); measuring anyway"
}
# metric_sum TEXT NAME [LABEL] sets METRIC to the sum of the integer samples of metric NAME in
# a /metrics text (all its label sets, or those whose labels contain LABEL), or to "nan"
# when it has none; bash alone, so that a poll can call it.
metric_sum() {
    local line value sum=0 seen=0
    while IFS= read -r line; do
        [[ $line == "$2 "* || $line == "$2{"* ]] || continue
        [[ -z ${3:-} || ${line%% *} == *"$3"* ]] || continue
        value=${line##* }
        [[ $value =~ ^[0-9]+$ ]] || continue
        sum=$((sum + value))
        seen=1
    done <<<"$1"
    ((seen)) && METRIC=$sum || METRIC=nan
}

# ratio a b -> a/b with 2 decimals, or "-" when b is empty or zero.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (b == "" || b + 0 == 0 || a == "") print "-"; else printf "%.2f", a / b }'
}

# Draws a CSV with a gnuplot script: draw_svg script.gp csv svg "var='x'; ..." (csv= and out=
# are passed too). Prints "plot: SVG". Returns 1 when gnuplot failed; a missing gnuplot is
# only logged, the CSV stands on its own.
draw_svg() {
    local gp=$1 csv=$2 svg=$3 vars=$4
    if ! command -v gnuplot >/dev/null; then
        log "gnuplot not found (Debian: apt-get install gnuplot-nox): no SVG, only $csv"
        return 0
    fi
    if ! gnuplot -e "csv='$csv'; out='$svg'; $vars" "$gp" 2>"$BENCH_TMP/gnuplot.err"; then
        log "gnuplot failed: $(head -5 "$BENCH_TMP/gnuplot.err")"
        return 1
    fi
    echo "plot: $svg"
}

# Raw results as CSV, one file per script and day, rows appended across runs, each row
# stamped with its UTC time: csv_open NAME HEADER sets CSV_FILE to $OUT if set, else to
# bench/results/NAME-<UTC date>.csv; a file of that name with another header (the script's
# columns changed) is left alone and -HHMMSS is added. csv_row FIELDS... appends one row:
# the time, then the fields, comma-separated; a field holding a comma or a quote is quoted.
csv_open() {
    local name=$1 header="time,$2"
    CSV_FILE=${OUT:-$BENCH_DIR/results/$name-$(date -u +%Y-%m-%d).csv}
    if [[ -s $CSV_FILE && $(head -1 "$CSV_FILE") != "$header" ]]; then
        CSV_FILE=${CSV_FILE%.csv}-$(date -u +%H%M%S).csv
    fi
    mkdir -p "$(dirname "$CSV_FILE")" || return 1
    [[ -s $CSV_FILE ]] || printf '%s\n' "$header" >"$CSV_FILE"
}
csv_row() {
    local row f
    TZ=UTC0 printf -v row '%(%Y-%m-%dT%H:%M:%SZ)T' -1
    for f in "$@"; do
        [[ $f == *[,\"]* ]] && f="\"${f//\"/\"\"}\""
        row+=",$f"
    done
    printf '%s\n' "$row" >>"$CSV_FILE"
}
