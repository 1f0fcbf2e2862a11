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
LOG_TAG=fanout.sh
. bench/lib.sh

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

raise_nofile $((C + PUBLISHERS + 100))
build_tools

ROWS=()

# measure NAME PORT RATE PID: one fanout run against the running server.
measure() {
  local name=$1 port=$2 rate=$3 pid=$4 out=$WORK/run.json rc=0
  wait_quiet
  log "$name: C=$C R=$rate/s P=$P B D=$D on 127.0.0.1:$port (pid $pid)"
  "$WORK/herald-bench" fanout -url "http://127.0.0.1:$port" -c "$C" -rate "$rate" -duration "$D" \
    -payload "$P" -publishers "$PUBLISHERS" -drain "$DRAIN" -parallel "$PARALLEL" -timeout "$TIMEOUT" \
    -pids "$pid" -json >"$out" || rc=$?
  keep_json "$name-$rate" "$out"
  if [[ ! -s $out ]]; then
    ROWS+=("| $name | $C | $rate | $P | run failed (exit $rc) | | | | | | | |")
    return
  fi
  ROWS+=("$(fanout_row single "$name" "$out")")
  rm -f "$out"
}

run_node() {
  local port=$PORT_BASE rate=$1
  node_peer_setup
  if start_node_peer "$port"; then
    measure "$NODE_PEER_NAME" "$port" "$rate" "$LAST_PID"
  else
    ROWS+=("| node | did not start | | | | | | | | | | |")
  fi
  stop_all
}

run_herald() {
  local port=$((PORT_BASE + 1)) rate=$1
  if start_herald "$port"; then
    measure "herald" "$port" "$rate" "$LAST_PID"
  else
    ROWS+=("| herald | did not start | | | | | | | | | | |")
  fi
  stop_all
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
