#!/usr/bin/env bash
# cluster.sh -- N hookgate nodes plus HAProxy on one machine (loopback), to try the
# several-nodes setup of docs/scaling.md; stops them by the PIDs it recorded.
#
# usage: deploy/cluster.sh start N    start N nodes and the balancer (N >= 1)
#        deploy/cluster.sh stop        stop everything this directory's start started
#        deploy/cluster.sh status      which recorded processes are running
#
# Environment (defaults in brackets):
#   HOOKGATE           the gateway binary                        [build/hookgate]
#   CLUSTER_DIR        configs, data dirs, logs and PID files    [var/cluster]
#   CLUSTER_LB_PORT    HAProxy's port on 127.0.0.1               [8080]
#   CLUSTER_BASE_PORT  node i listens on 127.0.0.1:BASE+i-1      [8081]
#   CLUSTER_TEMPLATE   node config template: @PORT@, @DATA_DIR@ and @NODE@ are replaced
#                                                                [deploy/node.json.in]
#   HOOKGATE_SINK_URL  the catch-all subscriber of the default template
#                                                                [http://127.0.0.1:9001/hooks]
#   CLUSTER_PIN        a command prefix for every process, e.g. "taskset -c 0"  [none]
#   HOOKGATE_LB_INTER, HOOKGATE_LB_FALL, HOOKGATE_LB_RISE: health checks (deploy/haproxy.cfg)
#
# Nodes are named node1..nodeN on HAProxy's hash ring and keep their data directory
# (CLUSTER_DIR/nodeI/data) across stop and start, like real machines would.
set -u

DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$DEPLOY_DIR/.." && pwd)
HOOKGATE=${HOOKGATE:-$ROOT/build/hookgate}
CLUSTER_DIR=${CLUSTER_DIR:-$ROOT/var/cluster}
CLUSTER_LB_PORT=${CLUSTER_LB_PORT:-8080}
CLUSTER_BASE_PORT=${CLUSTER_BASE_PORT:-8081}
CLUSTER_TEMPLATE=${CLUSTER_TEMPLATE:-$DEPLOY_DIR/node.json.in}
export HOOKGATE_SINK_URL=${HOOKGATE_SINK_URL:-http://127.0.0.1:9001/hooks}
read -r -a PIN <<<"${CLUSTER_PIN:-}"

die() {
    printf 'cluster.sh: %s\n' "$*" >&2
    exit 1
}

# Waits up to $2 seconds (default 10) for URL to answer 200.
wait_http() {
    local url=$1 secs=${2:-10} i
    for ((i = 0; i < secs * 10; i++)); do
        [[ $(curl -s -o /dev/null -m 1 -w '%{http_code}' "$url" 2>/dev/null) == 200 ]] && return 0
        sleep 0.1
    done
    return 1
}

# The PID recorded in file $1, if that process is still the one we started (its command
# line names $2); a PID reused by another program is never signalled.
live_pid() {
    local file=$1 what=$2 pid
    [[ -f $file ]] || return 1
    pid=$(<"$file")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "$what" || return 1
    echo "$pid"
}

# SIGTERM, up to 15 s for a graceful stop, then SIGKILL.
stop_one() {
    local file=$1 what=$2 name=$3 pid i
    if pid=$(live_pid "$file" "$what"); then
        kill -TERM "$pid"
        for ((i = 0; i < 150; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid"
            echo "$name (pid $pid) killed after 15 s"
        else
            echo "$name (pid $pid) stopped"
        fi
    fi
    rm -f "$file"
}

# The balancer's config: deploy/haproxy.cfg with its node block replaced by one server line
# per node. Args: N output_file
render_haproxy() {
    local n=$1 out=$2 i servers=""
    for ((i = 1; i <= n; i++)); do
        servers+="    server node$i 127.0.0.1:$((CLUSTER_BASE_PORT + i - 1))"$'\n'
    done
    awk -v servers="$servers" '
        /# nodes: begin/ { print; printf "%s", servers; skip = 1; next }
        /# nodes: end/ { skip = 0 }
        !skip { print }' "$DEPLOY_DIR/haproxy.cfg" >"$out"
}

start() {
    local n=$1 i port dir urls=()
    [[ $n =~ ^[1-9][0-9]*$ ]] || die "start needs a node count N >= 1"
    [[ -x $HOOKGATE ]] || die "$HOOKGATE is not executable: build it or set HOOKGATE"
    command -v haproxy >/dev/null || die "haproxy not found (apt-get install haproxy)"
    [[ -f $CLUSTER_TEMPLATE ]] || die "no node template $CLUSTER_TEMPLATE"
    mkdir -p "$CLUSTER_DIR"
    for f in "$CLUSTER_DIR"/*.pid; do
        [[ -e $f ]] && die "$CLUSTER_DIR has PID files: run '$0 stop' first"
    done
    for ((i = 1; i <= n; i++)); do
        port=$((CLUSTER_BASE_PORT + i - 1))
        dir=$CLUSTER_DIR/node$i
        mkdir -p "$dir/data"
        sed -e "s|@PORT@|$port|g" -e "s|@DATA_DIR@|$dir/data|g" -e "s|@NODE@|node$i|g" \
            "$CLUSTER_TEMPLATE" >"$dir/hookgate.json"
        "$HOOKGATE" --config "$dir/hookgate.json" --check >/dev/null ||
            die "node$i: $dir/hookgate.json is not a valid config"
        nohup "${PIN[@]}" "$HOOKGATE" --config "$dir/hookgate.json" >>"$dir/hookgate.log" 2>&1 &
        echo $! >"$CLUSTER_DIR/node$i.pid"
        urls+=("http://127.0.0.1:$port")
    done
    for ((i = 1; i <= n; i++)); do
        wait_http "${urls[i - 1]}/healthz" 15 ||
            die "node$i did not become healthy; see $CLUSTER_DIR/node$i/hookgate.log ('$0 stop' cleans up)"
    done

    render_haproxy "$n" "$CLUSTER_DIR/haproxy.cfg"
    export HOOKGATE_LB_BIND=127.0.0.1:$CLUSTER_LB_PORT
    export HOOKGATE_LB_STATS=$CLUSTER_DIR/haproxy.sock
    haproxy -c -q -f "$CLUSTER_DIR/haproxy.cfg" || die "haproxy rejected $CLUSTER_DIR/haproxy.cfg"
    # -db: stay in the foreground (as this PID) and log to the file.
    nohup "${PIN[@]}" haproxy -db -f "$CLUSTER_DIR/haproxy.cfg" >>"$CLUSTER_DIR/haproxy.log" 2>&1 &
    echo $! >"$CLUSTER_DIR/haproxy.pid"
    wait_http "http://127.0.0.1:$CLUSTER_LB_PORT/healthz" 15 ||
        die "haproxy did not come up; see $CLUSTER_DIR/haproxy.log ('$0 stop' cleans up)"

    local list
    list=$(IFS=,; echo "${urls[*]}")
    echo "$n node(s) and HAProxy running (files in $CLUSTER_DIR)"
    echo "  producers: POST http://127.0.0.1:$CLUSTER_LB_PORT/events with an Idempotency-Key header"
    echo "  operators: HOOKGATE_URL=$list hookgate-admin subscribers"
    echo "  balancer:  echo 'show stat' | socat stdio $CLUSTER_DIR/haproxy.sock   (socat: apt-get install socat)"
}

stop() {
    local f name
    stop_one "$CLUSTER_DIR/haproxy.pid" haproxy haproxy
    for f in "$CLUSTER_DIR"/node*.pid; do
        [[ -e $f ]] || continue
        name=$(basename "$f" .pid)
        stop_one "$f" hookgate "$name"
    done
}

status() {
    local f name pid
    for f in "$CLUSTER_DIR"/*.pid; do
        [[ -e $f ]] || { echo "nothing recorded in $CLUSTER_DIR"; return 0; }
        name=$(basename "$f" .pid)
        if pid=$(live_pid "$f" "$([[ $name == haproxy ]] && echo haproxy || echo hookgate)"); then
            echo "$name: running (pid $pid)"
        else
            echo "$name: not running"
        fi
    done
}

case "${1:-}" in
start) start "${2:-}" ;;
stop) stop ;;
status) status ;;
*)
    sed -n '2,/^set -u/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
