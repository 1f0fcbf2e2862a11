#!/usr/bin/env bash
# Fan-out through a 2-node cluster over Redis, side by side: two Node socket.io peers
# with @socket.io/redis-adapter, and two Herald processes with HERALD_REDIS_URL.
#
# Every run gets a fresh private redis-server (a free loopback port from
# REDIS_PORT_BASE; never the Redis on 6379, nothing persisted) and two fresh servers
# on it, stopped again after the run. A markdown table goes to stdout; progress and
# server logs go to stderr.
#
# Mode "fanout" (goal: cost of the cluster path). C subscribers connect round-robin
# to node 1 and node 2 (half each) and join room "fanout"; one publisher, on node 1
# and not in the room, emits broadcast("fanout", payload) at R msg/s for D. Node 1
# delivers to its half and publishes once to Redis; node 2 gets it from Redis and
# delivers to its half. Reported: delivered/expected, deliveries/s, latency
# p50/p90/p99/max, server CPU per delivery (both server processes summed), client and
# other CPU, Redis commands per broadcast (INFO commandstats before the first send
# and after the drain, divided by the messages published) and Redis CPU
# (used_cpu_user + used_cpu_sys over the same window).
#
# Mode "interest" (goal: what a node pays for a room it does not hold). IC
# subscribers, all on node 1, join room "fanout"; the publisher on node 1 broadcasts
# to it at each of INTEREST_RATES. Node 2 holds no member of the room. Reported: the
# bytes node 2 received from Redis (kernel tcp_info bytes_received of its
# connections to the Redis port, `ss -tinp`, before and after the herald-bench run,
# so the connect phase is included), per broadcast, and node 2's CPU in the window.
# Herald subscribes to a room's channel only while it holds a member; the Node
# adapter PSUBSCRIBEs to the namespace and receives every broadcast.
#
# usage: bench/cluster.sh          (from anywhere; it works from the repo root)
#
# env:
#   C=1000             subscribers, half on each node (mode fanout)
#   RATES="100 1000 2000"   messages per second, one run each (mode fanout)
#   MODES="fanout interest" which measurements to make
#   IC=500             subscribers, all on node 1 (mode interest)
#   INTEREST_RATES="100"    rates for mode interest (low enough for Node to keep up)
#   REPEAT=1           runs of each configuration (each a row; the machine is shared, so
#                      compare the rows whose "other CPU" is small)
#   MAX_OTHER=100      mode fanout: when a run's "other CPU" (percent of one core) is above
#                      this, something else shared the machine; run it again, up to
#                      RETRIES more times, and keep the last (marked if still above)
#   RETRIES=3
#   P=100              payload bytes
#   D=10s              publishing time per run
#   PUBLISHERS=1       publisher connections (round-robin over the nodes: 1 = node 1)
#   DRAIN=5s           wait for stragglers after the last send
#   PARALLEL=100       dials in flight
#   TIMEOUT=3m         cap for each herald-bench run
#   PORT_BASE=3300     node 1 on PORT_BASE, node 2 on PORT_BASE+1
#   REDIS_PORT_BASE=6390    the private Redis takes the first free port from here
#   SERVERS="node herald"   which servers to run
#   QUIET=20, QUIET_WAIT=600   wait for a quiet machine before each run (see fanout.sh)
#   DEBUG_PORT_BASE    if set, Herald node i serves pprof on 127.0.0.1:DEBUG_PORT_BASE+i-1
#                      (go tool pprof -top 'http://127.0.0.1:6060/debug/pprof/profile?seconds=5')
#   JSON_DIR           if set, keep each run's JSON result there
#   BENCH_ARGS         more herald-bench fanout flags (e.g. "-cpuprofile /tmp/client.prof", or
#                      "-plain" for subscribers on the plain WebSocket endpoint, with
#                      HERALD_WS_NAMESPACE=/bench so Herald puts them in the bench namespace)
#   HERALD_*           Herald's settings pass through to both nodes (e.g. HERALD_WRITE_DELAY=20ms)
set -euo pipefail

cd "$(dirname "$0")/.."
LOG_TAG=cluster.sh
. bench/lib.sh

C=${C:-1000}
RATES=${RATES:-100 1000 2000}
MODES=${MODES:-fanout interest}
IC=${IC:-500}
INTEREST_RATES=${INTEREST_RATES:-100}
REPEAT=${REPEAT:-1}
MAX_OTHER=${MAX_OTHER:-100}
RETRIES=${RETRIES:-3}
P=${P:-100}
D=${D:-10s}
PUBLISHERS=${PUBLISHERS:-1}
DRAIN=${DRAIN:-5s}
PARALLEL=${PARALLEL:-100}
TIMEOUT=${TIMEOUT:-3m}
PORT_BASE=${PORT_BASE:-3300}
SERVERS=${SERVERS:-node herald}
QUIET=${QUIET:-20}
QUIET_WAIT=${QUIET_WAIT:-600}

raise_nofile $((C + PUBLISHERS + 100))
command -v ss >/dev/null || { log "ss (iproute2) is needed for mode interest"; [[ $MODES != *interest* ]]; }
build_tools
[[ $SERVERS == *node* ]] && node_peer_setup

FANOUT_ROWS=()
INTEREST_ROWS=()
RUN_NO=0
PORT1=$PORT_BASE
PORT2=$((PORT_BASE + 1))

# bench_run OUT URLS RATE SUBSCRIBERS: one herald-bench fanout run on the cluster.
bench_run() {
  local out=$1 urls=$2 rate=$3 c=$4 rc=0
  "$WORK/herald-bench" fanout -url "$urls" -c "$c" -rate "$rate" -duration "$D" -payload "$P" \
    -publishers "$PUBLISHERS" -drain "$DRAIN" -parallel "$PARALLEL" -timeout "$TIMEOUT" \
    -pids "$PID1,$PID2" -redis "127.0.0.1:$REDIS_PORT" -json ${BENCH_ARGS:-} >"$out" || rc=$?
  return $rc
}

run_fanout() {
  local server=$1 rate=$2 out=$WORK/run.json rc other try
  for ((try = 0; try <= RETRIES; try++)); do
    rc=0
    wait_quiet
    if ! start_cluster "$server"; then
      FANOUT_ROWS+=("| $server | did not start | | | | | | | | | | | | | |")
      stop_all
      return
    fi
    log "$NAME x2: C=$C (half per node) R=$rate/s P=$P B D=$D; pids $PID1 $PID2, redis :$REDIS_PORT"
    bench_run "$out" "http://127.0.0.1:$PORT1,http://127.0.0.1:$PORT2" "$rate" "$C" || rc=$?
    stop_all
    [[ -s $out ]] || break
    other=$(node -p 'Math.round(JSON.parse(require("fs").readFileSync(process.argv[1])).other_cpu.percent)' "$out")
    ((other <= MAX_OTHER)) && break
    ((try < RETRIES)) && log "other CPU ${other}% > MAX_OTHER=${MAX_OTHER}%: something else ran; again"
  done
  RUN_NO=$((RUN_NO + 1))
  keep_json "cluster-$NAME-$rate-$RUN_NO" "$out"
  if [[ ! -s $out ]]; then
    FANOUT_ROWS+=("| $NAME | $C | $rate | run failed (exit $rc) | | | | | | | | | | | |")
    return
  fi
  local label="$NAME x2"
  [[ " ${BENCH_ARGS:-} " == *" -plain "* ]] && label+=", plain WS subscribers"
  FANOUT_ROWS+=("$(fanout_row cluster "$label" "$out")")
  rm -f "$out"
}

run_interest() {
  local server=$1 rate=$2 out=$WORK/run.json rc=0 b1 b2 a1 a2 n2
  wait_quiet
  if ! start_cluster "$server"; then
    INTEREST_ROWS+=("| $server | did not start | | | | | | |")
    stop_all
    return
  fi
  log "$NAME x2, interest: C=$IC all on node 1, R=$rate/s P=$P B D=$D; node 2 (pid $PID2) holds no member"
  read -r b1 _ < <(redis_rx "$PID1" "$REDIS_PORT")
  read -r b2 _ < <(redis_rx "$PID2" "$REDIS_PORT")
  bench_run "$out" "http://127.0.0.1:$PORT1" "$rate" "$IC" || rc=$?
  read -r a1 _ < <(redis_rx "$PID1" "$REDIS_PORT")
  read -r a2 n2 < <(redis_rx "$PID2" "$REDIS_PORT")
  stop_all
  RUN_NO=$((RUN_NO + 1))
  keep_json "interest-$NAME-$rate-$RUN_NO" "$out"
  if [[ ! -s $out ]]; then
    INTEREST_ROWS+=("| $NAME | run failed (exit $rc) | | | | | | |")
    return
  fi
  INTEREST_ROWS+=("$(node -e '
    const [name, file, rx1, rx2, conns2] = process.argv.slice(1);
    const r = JSON.parse(require("fs").readFileSync(file, "utf8"));
    const f = (v, d = 1) => Number(v).toFixed(d);
    // Per broadcast that Redis saw published in the window (a backlogged node 1
    // publishes fewer than the client sent).
    const n = Math.max(r.redis.calls.publish || 0, 1), c2 = r.server_cpu[1], c1 = r.server_cpu[0];
    const ok = r.delivered === r.expected ? "" : ` (node 1 delivered ${r.delivered}/${r.expected})`;
    console.log(`| ${name} x2 | ${r.rate_per_s} | ${r.sent} / ${r.redis.calls.publish || 0}${ok} | ${rx2} B over ${conns2} conn. | ` +
      `${f(rx2 / n, 1)} | ${f(c2.total_s, 2)} s (${f(c2.percent, 1)}%) | ${f(rx1 / n, 1)} | ` +
      `${f(c1.us_per_delivery, 3)} | ${f(r.redis.net_out_bytes / n, 0)} |`);
  ' "$NAME" "$out" "$((a1 - b1))" "$((a2 - b2))" "$n2")")
  rm -f "$out"
}

# Rates outside, servers inside: both servers run each rate back to back, so anything
# else on the machine at that time weighs on both alike.
for mode in $MODES; do
  case $mode in
  fanout) rates=$RATES ;;
  interest) rates=$INTEREST_RATES ;;
  *) log "unknown mode $mode"; continue ;;
  esac
  for rate in $rates; do
    for s in $SERVERS; do
      case $s in
      node | herald) for _ in $(seq "$REPEAT"); do "run_$mode" "$s" "$rate"; done ;;
      *) log "unknown server $s" ;;
      esac
    done
  done
done

cores=$(nproc)
if ((${#FANOUT_ROWS[@]})); then
  echo "| server | C | R msg/s | delivered/expected | deliveries/s | p50 ms | p90 ms | p99 ms | max ms | p99 ms node 1 / node 2 | server CPU µs/delivery, 2 nodes (% of a core) | client CPU | other CPU | Redis commands per broadcast | Redis CPU (per broadcast) |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
  printf '%s\n' "${FANOUT_ROWS[@]}"
  echo
  echo "2 nodes on one private redis-server; C=$C subscribers in one room, half on each node; $PUBLISHERS publisher(s) on node 1, outside the room; P=$P B;"
  echo "D=$D per run, drain $DRAIN; latency = arrival - send stamp; CPU and Redis INFO over first send .. drain end;"
  echo "'other CPU' excludes the servers, the client and Redis. $cores cores shared by both servers, Redis and the client."
  echo "Herald and herald-bench built from $BUILD_REV; $(redis-server --version | grep -o 'v=[0-9.]*' | sed 's/v=/redis /')."
  echo
fi
if ((${#INTEREST_ROWS[@]})); then
  echo "| server | R msg/s | broadcasts sent / published to Redis | node 2 received from Redis | node 2 bytes per broadcast | node 2 CPU | node 1 bytes from Redis per broadcast | node 1 CPU µs/delivery | Redis bytes out per broadcast |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${INTEREST_ROWS[@]}"
  echo
  echo "IC=$IC subscribers in room \"fanout\", all on node 1; node 2 holds no member of it. P=$P B, D=$D."
  echo "Bytes: tcp_info bytes_received of each node's connections to Redis (ss -tinp) over the whole herald-bench run, per PUBLISH Redis ran in the window."
fi
