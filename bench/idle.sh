#!/usr/bin/env bash
# Idle memory per connection, side by side: the Node socket.io peer and Herald.
#
# Each server is started on its own loopback port, loaded with C idle Socket.IO
# connections by herald-bench, and stopped again before the next one starts.
# A markdown table goes to stdout; progress and server logs go to stderr.
#
# usage: bench/idle.sh            (from anywhere; it works from the repo root)
#
# env:
#   C=10000            connections per server
#   PARALLEL=100       dials in flight
#   HOLD=5s            hold after all are connected (RSS is sampled after a 2s settle)
#   TIMEOUT=3m         cap for each herald-bench run
#   PORT_BASE=3100     node peer on PORT_BASE, herald on PORT_BASE+1
#   SERVERS="node herald"   which servers to run
#   BENCH_ARGS         more herald-bench idle flags (e.g. "-epoll-client")
#   NODES=1            2: each server as a 2-node cluster over a private Redis (as
#                      cluster.sh starts it, on PORT_BASE and PORT_BASE+1), the
#                      connections round-robin over both, RSS summed over both
#                      (HERALD_CMD does not apply)
#   HERALD_CMD         command that starts Herald. "{port}" is replaced by its port,
#                      and PORT / HERALD_ADDR are exported too. "go run PKG ARGS" is
#                      turned into a build of PKG, so the pid sampled is Herald's own.
#                      Default: build ./cmd/herald if it exists, else skip Herald.
set -euo pipefail

cd "$(dirname "$0")/.."
LOG_TAG=idle.sh
. bench/lib.sh

C=${C:-10000}
PARALLEL=${PARALLEL:-100}
HOLD=${HOLD:-5s}
TIMEOUT=${TIMEOUT:-3m}
PORT_BASE=${PORT_BASE:-3100}
SERVERS=${SERVERS:-node herald}
NODES=${NODES:-1}

raise_nofile $((C + 100))

log "building herald-bench"
go build -o "$WORK/herald-bench" ./cmd/herald-bench

ROWS=()

# measure NAME URLS PIDS: load the running server(s) (comma-separated base URLs and
# pids) and add a table row.
measure() {
  local name=$1 urls=$2 pids=$3 out=$WORK/run.json rc=0
  log "$name: $C idle connections on $urls (pids $pids)"
  "$WORK/herald-bench" idle -url "$urls" -c "$C" -parallel "$PARALLEL" \
    -hold "$HOLD" -timeout "$TIMEOUT" -pids "$pids" -json ${BENCH_ARGS:-} >"$out" || rc=$?
  if [[ ! -s $out ]]; then
    ROWS+=("| $name | run failed (exit $rc) | | | | |")
    return
  fi
  ROWS+=("$(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const f = (v, d = 1) => Number(v).toFixed(d);
    const note = (r.client_reader && r.client_reader !== "gws" ? ` (${r.client_reader} client)` : "") + (r.timed_out ? " (timed out)" : "");
    console.log(`| ${process.argv[2]}${note} | ${r.connected}/${r.target} | ${f(r.server_rss_total.per_conn_kb, 2)} | ` +
      `${f(r.connect_time_ms / 1000, 2)} s | ${f(r.handshake_ms.p50)} ms | ${f(r.handshake_ms.p99)} ms |`);
  ' "$out" "$name")")
  rm -f "$out"
}

run_node() {
  local port=$PORT_BASE
  node_peer_setup
  if start_node_peer "$port"; then
    measure "$NODE_PEER_NAME" "http://127.0.0.1:$port" "$LAST_PID"
  else
    ROWS+=("| node | did not start | | | | |")
  fi
  stop_all
}

run_herald() {
  local port=$((PORT_BASE + 1)) cmd=${HERALD_CMD:-}
  if [[ -z $cmd ]]; then
    if [[ ! -d $ROOT/cmd/herald ]]; then
      log "skipping herald: cmd/herald does not exist yet (set HERALD_CMD to override)"
      ROWS+=("| herald | skipped: no cmd/herald | | | | |")
      return
    fi
    cmd="go run ./cmd/herald"
  fi
  if [[ $cmd == "go run "* ]]; then
    # Build instead, so that the pid we sample is Herald's and not the go tool's.
    local -a words
    read -r -a words <<<"${cmd#go run }"
    log "building herald: go build -o $WORK/herald ${words[0]}"
    if ! go build -o "$WORK/herald" "${words[0]}" >&2; then
      ROWS+=("| herald | build failed | | | | |")
      return
    fi
    cmd="$WORK/herald ${words[*]:1}"
  fi
  cmd=${cmd//\{port\}/$port}
  log "starting herald: $cmd"
  spawn env PORT=$port HERALD_ADDR=127.0.0.1:$port HERALD_DEMO=false bash -c "exec $cmd"
  if ! wait_port "$port" "$LAST_PID"; then
    ROWS+=("| herald | did not start | | | | |")
    stop_all
    return
  fi
  measure "herald" "http://127.0.0.1:$port" "$LAST_PID"
  stop_all
}

# run_cluster SERVER: two nodes of SERVER over a private Redis, loaded together.
run_cluster() {
  [[ $1 == node ]] && node_peer_setup
  if start_cluster "$1"; then
    measure "$NAME x2" "http://127.0.0.1:$PORT_BASE,http://127.0.0.1:$((PORT_BASE + 1))" "$PID1,$PID2"
  else
    ROWS+=("| $1 x2 | did not start | | | | |")
  fi
  stop_all
}
((NODES == 2)) && build_tools

for s in $SERVERS; do
  case $NODES:$s in
  2:node | 2:herald) run_cluster "$s" ;;
  *:node) run_node ;;
  *:herald) run_herald ;;
  *) log "unknown server $s" ;;
  esac
done

echo "| server | connections | RSS/conn KB | connect time | handshake p50 | handshake p99 |"
echo "|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "C=$C, PARALLEL=$PARALLEL, HOLD=$HOLD$( ((NODES == 2)) && echo ", each server as 2 nodes over a private Redis, connections round-robin, RSS of both"); RSS/conn = (VmRSS 2s after the last connect - VmRSS before the first dial) / connections; $(nproc) cores shared by server and client."
