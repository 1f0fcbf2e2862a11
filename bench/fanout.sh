#!/usr/bin/env bash
# Fan-out, side by side: the Node socket.io peer and Herald, one process each.
#
# Each server is started on its own loopback port (Herald with HERALD_BENCH=true,
# which registers the /bench namespace), loaded by one `herald-bench fanout` run,
# and stopped; a fresh server is started for every rate, so a backlog left by one
# run cannot slow the next. A markdown table goes to stdout; progress and server
# logs go to stderr. The "other CPU" column is what the rest of the machine (other
# processes, kernel threads) used during the run: if it is large, the run shared
# the cores with something else and its numbers are not comparable.
#
# usage: bench/fanout.sh          (from anywhere; it works from the repo root)
#
# env:
#   C=1000             subscribers (all in one room)
#   RATES="100 1000"   messages per second, one run each
#   P=100              payload bytes
#   D=10s              publishing time per run
#   PUBLISHERS=1       publisher connections
#   DRAIN=5s           wait for stragglers after the last send
#   PARALLEL=100       dials in flight
#   TIMEOUT=3m         cap for each herald-bench run
#   PORT_BASE=3200     node peer on PORT_BASE, herald on PORT_BASE+1
#   SERVERS="node herald"   which servers to run
#   QUIET=20           before each run, wait until the machine's CPU is below this
#                      percent of all cores for 2 s in a row (other work on the machine
#                      skews every number); QUIET=100 turns the wait off
#   QUIET_WAIT=600     longest wait for quiet, seconds; the run then goes ahead and the
#                      "other CPU" column shows the interference
#   HERALD_DEBUG_ADDR  passed to Herald (e.g. 127.0.0.1:6060 to profile it during a run)
#   JSON_DIR           if set, keep each run's JSON result there
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PEER_DIR=$ROOT/bench/peers/socketio-node

C=${C:-1000}
RATES=${RATES:-100 1000}
P=${P:-100}
D=${D:-10s}
PUBLISHERS=${PUBLISHERS:-1}
DRAIN=${DRAIN:-5s}
PARALLEL=${PARALLEL:-100}
TIMEOUT=${TIMEOUT:-3m}
PORT_BASE=${PORT_BASE:-3200}
SERVERS=${SERVERS:-node herald}
QUIET=${QUIET:-20}
QUIET_WAIT=${QUIET_WAIT:-600}

log() { echo "fanout.sh: $*" >&2; }

ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < C + PUBLISHERS + 100)); then
  log "open-file limit $(ulimit -n) is too low for C=$C"
  exit 1
fi

WORK=$(mktemp -d -t herald-fanout.XXXXXX)
SERVER_PID=""

stop_server() {
  if [[ -n $SERVER_PID ]]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do # up to 5 s, then force
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_port PORT: until something accepts on 127.0.0.1:PORT (30 s cap) while
# the server is still alive.
wait_port() {
  local port=$1 deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      log "server exited before listening"
      return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  log "server did not listen on $port within 30s"
  return 1
}

# busy_percent: the machine's CPU use over the next second, percent of all cores.
busy_percent() {
  local a b
  read -r -a a < <(head -1 /proc/stat)
  sleep 1
  read -r -a b < <(head -1 /proc/stat)
  # fields: cpu user nice system idle iowait irq softirq steal
  local busy=$(((b[1] + b[2] + b[3] + b[6] + b[7] + b[8]) - (a[1] + a[2] + a[3] + a[6] + a[7] + a[8])))
  local idle=$(((b[4] + b[5]) - (a[4] + a[5])))
  echo $((100 * busy / (busy + idle + 1)))
}

# wait_quiet: until the machine is below QUIET% for two seconds running, or QUIET_WAIT.
wait_quiet() {
  ((QUIET >= 100)) && return 0
  local deadline=$((SECONDS + QUIET_WAIT)) calm=0 p said=""
  while ((SECONDS < deadline)); do
    p=$(busy_percent)
    if ((p < QUIET)); then
      calm=$((calm + 1))
      ((calm >= 2)) && return 0
    else
      calm=0
      [[ -z $said ]] && log "machine busy (${p}% of all cores); waiting up to ${QUIET_WAIT}s for it to drop below ${QUIET}%"
      said=1
    fi
  done
  log "machine still busy (${p}%); running anyway"
}

log "building herald-bench and herald"
go build -o "$WORK/herald-bench" ./cmd/herald-bench
go build -o "$WORK/herald" ./cmd/herald

ROWS=()

# measure NAME PORT RATE: one fanout run against the running server.
measure() {
  local name=$1 port=$2 rate=$3 out rc
  {
    out=$WORK/$name-$rate.json
    rc=0
    wait_quiet
    log "$name: C=$C R=$rate/s P=$P B D=$D on 127.0.0.1:$port (pid $SERVER_PID)"
    "$WORK/herald-bench" fanout -url "http://127.0.0.1:$port" -c "$C" -rate "$rate" -duration "$D" \
      -payload "$P" -publishers "$PUBLISHERS" -drain "$DRAIN" -parallel "$PARALLEL" -timeout "$TIMEOUT" \
      -pids "$SERVER_PID" -json >"$out" || rc=$?
    if [[ -n ${JSON_DIR:-} ]]; then
      mkdir -p "$JSON_DIR"
      cp "$out" "$JSON_DIR/$(echo "$name" | tr -c 'A-Za-z0-9.\n-' _)-$rate.json" 2>/dev/null || true
    fi
    if [[ ! -s $out ]]; then
      ROWS+=("| $name | $C | $rate | $P | run failed (exit $rc) | | | | | | | |")
      return
    fi
    ROWS+=("$(node -e '
      const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      const f = (v, d = 1) => Number(v).toFixed(d);
      const notes = [];
      if (r.lost) notes.push(`lost ${r.lost}`);
      if (r.duplicates) notes.push(`dup ${r.duplicates}`);
      if (r.disconnects) notes.push(`dropped ${r.disconnects}`);
      if (!r.drained) notes.push("not drained");
      if (r.timed_out) notes.push("timed out");
      if (r.sent < r.planned) notes.push(`sent ${r.sent}/${r.planned}`);
      const l = r.latency_ms, s = r.server_cpu_total, c = r.client_cpu, o = r.other_cpu;
      console.log(`| ${process.argv[2]} | ${r.joined} | ${r.rate_per_s} | ${r.payload_bytes} | ` +
        `${r.delivered}/${r.expected}${notes.length ? " (" + notes.join(", ") + ")" : ""} | ` +
        `${Math.round(r.deliveries_per_s)} | ${f(l.p50, 2)} ms | ${f(l.p99, 2)} ms | ${f(l.max, 1)} ms | ` +
        `${f(s.us_per_delivery, 3)} (${f(s.percent, 0)}%) | ${f(c.us_per_delivery, 3)} (${f(c.percent, 0)}%) | ${f(o.percent, 0)}% |`);
    ' "$out" "$name")")
  }
}

run_node() {
  local port=$PORT_BASE rate=$1
  if [[ ! -d $PEER_DIR/node_modules ]]; then
    log "installing the node peer (npm ci)"
    (cd "$PEER_DIR" && npm ci --no-audit --no-fund >&2)
  fi
  PORT=$port HOST=127.0.0.1 node "$PEER_DIR/server.mjs" >&2 &
  SERVER_PID=$!
  if ! wait_port "$port"; then
    ROWS+=("| node | did not start | | | | | | | | | | |")
    stop_server
    return
  fi
  measure "socket.io $(node -p 'require(process.argv[1]).version' "$PEER_DIR/node_modules/socket.io/package.json") (node $(node --version))" "$port" "$rate"
  stop_server
}

run_herald() {
  local port=$((PORT_BASE + 1)) rate=$1
  log "starting herald on 127.0.0.1:$port with HERALD_BENCH=true"
  HERALD_BENCH=true PORT=$port HERALD_HOST=127.0.0.1 "$WORK/herald" >&2 &
  SERVER_PID=$!
  if ! wait_port "$port"; then
    ROWS+=("| herald | did not start | | | | | | | | | | |")
    stop_server
    return
  fi
  measure "herald" "$port" "$rate"
  stop_server
}

# Rates outside, servers inside: both servers run each rate back to back, so
# anything else on the machine at that time weighs on both alike.
for rate in $RATES; do
  for s in $SERVERS; do
    case $s in
    node) run_node "$rate" ;;
    herald) run_herald "$rate" ;;
    *) log "unknown server $s" ;;
    esac
  done
done

echo "| server | C | R msg/s | P bytes | delivered/expected | deliveries/s | p50 | p99 | max | server CPU µs/delivery (% of a core) | client CPU µs/delivery (% of a core) | other CPU |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "C=$C subscribers in one room, $PUBLISHERS publisher(s) outside it, D=$D per run, drain $DRAIN; latency = arrival - send stamp;"
echo "CPU over first send .. drain end from /proc/PID/stat (server) and getrusage (client); $(nproc) cores shared by server and client."
