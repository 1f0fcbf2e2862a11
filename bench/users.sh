#!/usr/bin/env bash
# Users, connect storms and the publish paths, through a 2-node cluster over Redis,
# side by side: two Node socket.io peers (@socket.io/redis-adapter, JWT_SECRET,
# API_KEYS) and two Herald processes (HERALD_REDIS_URL, HERALD_JWT_SECRET,
# HERALD_API_KEYS, HERALD_BENCH=true).
#
# Every run gets a fresh private redis-server (a free loopback port from
# REDIS_PORT_BASE; never the Redis on 6379, nothing persisted) and two fresh servers
# on it, stopped again after the run. The JWT secret and the API key are random for
# each script run and reach the servers and herald-bench through the environment
# (HERALD_BENCH_JWT_SECRET, HERALD_BENCH_API_KEY), never the command line. A markdown
# summary goes to stdout; progress and server logs go to stderr.
#
# Mode "users". U users × K devices connect round-robin to node 1 and node 2 (a
# user's devices alternate between the nodes), each authenticated with an HS256 JWT
# (sub=u<n>), so the server joins it to room user:<id>. Messages go to one random
# user each at R msg/s for D, through each publish path of PUBLISH:
#   client   publisher connections (round-robin over the nodes) emit
#            broadcast("user:<id>", payload)
#   api      POST /api/v1/emit {"to":{"users":["<id>"]}} (requests round-robin over the
#            nodes, each sender on its keep-alive connection)
#   emitter  PUBLISH in the @socket.io/redis-emitter format on the private Redis
#   api-wait as api, with "wait": true (Herald only: delivery accounting); the
#            answers' counts are summed and the request round trip is reported
# Reported: delivered/expected (each message is due at every device of its user),
# wrong-user deliveries (must be 0), duplicates, loss, latency (arrival − send stamp)
# overall and per node, server CPU per delivery (both nodes), Redis commands per
# message.
#
# Mode "storm". C connections (each with its own JWT) ramp up PARALLEL at a time,
# half on each node; then all are closed at once and all reconnect at once (PARALLEL
# in flight, failed ones retried RETRIES times). Reported: the ramp's connect time,
# the storm's time until all are back, handshake p50/p99 in the storm, failures,
# server CPU during the storm.
#
# Mode "fanout". As cluster.sh's fanout (FC subscribers in one room, half per node),
# once per publish path of PUBLISH.
#
# usage: bench/users.sh          (from anywhere; it works from the repo root)
#
# env:
#   MODES="users storm fanout"   which measurements to make
#   PUBLISH="client api emitter" publish paths for modes users and fanout
#   SERVERS="node herald"        which servers to run
#   U=1000 K=2         users and devices per user (mode users)
#   R=500              messages per second (modes users and fanout)
#   FC=1000            fanout subscribers (mode fanout)
#   C=2000             connections (mode storm)
#   RETRIES=3          storm: extra attempts for a connection that fails
#   STORM_AUTH=1       storm: each connection sends its own JWT (0: anonymous)
#   P=100              payload bytes
#   D=10s              publishing time per run
#   PUBLISHERS=4       senders at once: publisher connections (client), HTTP requests in
#                      flight (api); both round-robin over the nodes, so 4 = 2 per node;
#                      PUBLISHes in flight (emitter)
#   DRAIN=5s           wait for stragglers after the last send
#   PARALLEL=100       dials in flight
#   TIMEOUT=3m         cap for each herald-bench run
#   PORT_BASE=3400     node 1 on PORT_BASE, node 2 on PORT_BASE+1
#   REDIS_PORT_BASE=6390    the private Redis takes the first free port from here
#   QUIET=20, QUIET_WAIT=600   wait for a quiet machine before each run (see fanout.sh)
#   DEBUG_PORT_BASE    if set, Herald node i serves pprof on 127.0.0.1:DEBUG_PORT_BASE+i-1
#   JSON_DIR           if set, keep each run's JSON result there
set -euo pipefail

cd "$(dirname "$0")/.."
LOG_TAG=users.sh
. bench/lib.sh

MODES=${MODES:-users storm fanout}
PUBLISH=${PUBLISH:-client api emitter}
SERVERS=${SERVERS:-node herald}
U=${U:-1000}
K=${K:-2}
R=${R:-500}
FC=${FC:-1000}
C=${C:-2000}
RETRIES=${RETRIES:-3}
STORM_AUTH=${STORM_AUTH:-1}
P=${P:-100}
D=${D:-10s}
PUBLISHERS=${PUBLISHERS:-4}
DRAIN=${DRAIN:-5s}
PARALLEL=${PARALLEL:-100}
TIMEOUT=${TIMEOUT:-3m}
PORT_BASE=${PORT_BASE:-3400}
QUIET=${QUIET:-20}
QUIET_WAIT=${QUIET_WAIT:-600}

raise_nofile $((U * K + C + FC + PUBLISHERS + 100))
build_tools
[[ $SERVERS == *node* ]] && node_peer_setup

# Exported, so every process started from here inherits them and none has them on
# its command line: Herald reads HERALD_JWT_SECRET and HERALD_API_KEYS, the Node peer
# JWT_SECRET and API_KEYS, herald-bench HERALD_BENCH_JWT_SECRET and HERALD_BENCH_API_KEY.
HERALD_BENCH_JWT_SECRET=$(random_secret)
HERALD_BENCH_API_KEY=$(random_secret)
HERALD_JWT_SECRET=$HERALD_BENCH_JWT_SECRET
HERALD_API_KEYS=$HERALD_BENCH_API_KEY
JWT_SECRET=$HERALD_BENCH_JWT_SECRET
API_KEYS=$HERALD_BENCH_API_KEY
export HERALD_BENCH_JWT_SECRET HERALD_BENCH_API_KEY HERALD_JWT_SECRET HERALD_API_KEYS JWT_SECRET API_KEYS

URLS="http://127.0.0.1:$PORT_BASE,http://127.0.0.1:$((PORT_BASE + 1))"
USERS_ROWS=()
STORM_ROWS=()
FANOUT_ROWS=()
RUN_NO=0

# bench_cluster SERVER OUT ARGS...: a fresh cluster of SERVER, one herald-bench run
# with ARGS ("{redis}" in them becomes the private Redis's address) and BENCH_ENV in
# its environment, its JSON to OUT; then everything is stopped. Sets NAME, and UP=1
# when the cluster started; returns herald-bench's exit status (1 if it did not start).
BENCH_ENV=()
bench_cluster() {
  local server=$1 out=$2 rc=0 a
  shift 2
  UP=0
  wait_quiet
  if ! start_cluster "$server"; then
    stop_all
    return 1
  fi
  UP=1
  local -a args=()
  for a in "$@"; do args+=("${a//\{redis\}/127.0.0.1:$REDIS_PORT}"); done
  log "$NAME x2 (pids $PID1 $PID2, redis :$REDIS_PORT): herald-bench ${args[*]}"
  env "${BENCH_ENV[@]}" "$WORK/herald-bench" "${args[@]}" -url "$URLS" -pids "$PID1,$PID2" -timeout "$TIMEOUT" \
    -json >"$out" || rc=$?
  stop_all
  RUN_NO=$((RUN_NO + 1))
  keep_json "$1-$NAME-$RUN_NO" "$out"
  return "$rc"
}

run_users() {
  local server=$1 publish=$2 out=$WORK/run.json rc=0 path=(-publish "$2")
  if [[ $publish == api-wait ]]; then
    if [[ $server == node ]]; then
      USERS_ROWS+=("| socket.io x2 | api-wait | n/a: no delivery accounting in socket.io | | | | | | | | | | | |")
      return
    fi
    path=(-publish api -api-wait)
  fi
  bench_cluster "$server" "$out" users -users "$U" -devices "$K" -rate "$R" -duration "$D" -payload "$P" \
    "${path[@]}" -publishers "$PUBLISHERS" -drain "$DRAIN" -parallel "$PARALLEL" -redis "{redis}" || rc=$?
  if ((!UP)); then
    USERS_ROWS+=("| $server | $publish | did not start | | | | | | | | | | | |")
    return
  fi
  if [[ ! -s $out ]]; then
    USERS_ROWS+=("| $NAME x2 | $publish | run failed (exit $rc) | | | | | | | | | | | |")
    return
  fi
  USERS_ROWS+=("$(node -e '
    const [name, publish, file] = process.argv.slice(1);
    const r = JSON.parse(require("fs").readFileSync(file, "utf8"));
    const f = (v, d = 1) => Number(v).toFixed(d);
    const notes = [];
    if (r.sent < r.planned) notes.push(`sent ${r.sent}/${r.planned}`);
    if (r.send_errors) notes.push(`${r.send_errors} send errors`);
    if (r.connected < r.devices) notes.push(`${r.connected}/${r.devices} devices`);
    if (!r.drained) notes.push("not drained");
    if (r.timed_out) notes.push("timed out");
    if (r.disconnects) notes.push(`dropped ${r.disconnects}`);
    if (r.api_answer_ms) notes.push(`API answer p50 ${f(r.api_answer_ms.p50, 2)} / p99 ${f(r.api_answer_ms.p99, 2)} ms`);
    if (r.api_counted !== undefined && publish === "api-wait") notes.push(`counted ${r.api_counted}, ${r.api_incomplete} incomplete`);
    const l = r.latency_ms, s = r.server_cpu_total, rd = r.redis || { calls_per_message: NaN };
    const byNode = (r.per_target || []).map((t) => f(t.latency_ms.p99, 1)).join(" / ");
    console.log(`| ${name} | ${publish} | ${r.users}×${r.devices_per_user} | ${r.rate_per_s} | ` +
      `${r.delivered}/${r.expected}${notes.length ? " (" + notes.join(", ") + ")" : ""} | ` +
      `${r.wrong_user} | ${r.duplicates} / ${r.lost} | ${Math.round(r.deliveries_per_s)} | ` +
      `${f(l.p50, 2)} | ${f(l.p99, 2)} | ${f(l.max, 1)} | ${byNode} | ` +
      `${f(s.us_per_delivery, 3)} (${f(s.percent, 0)}%) | ${f(rd.calls_per_message, 2)} |`);
  ' "$NAME x2" "$publish" "$out")")
  rm -f "$out"
}

run_storm() {
  local server=$1 out=$WORK/run.json rc=0
  # Without STORM_AUTH, herald-bench gets no secret: the connections are anonymous.
  ((STORM_AUTH)) || BENCH_ENV=(HERALD_BENCH_JWT_SECRET=)
  bench_cluster "$server" "$out" connect-storm -c "$C" -parallel "$PARALLEL" -retries "$RETRIES" || rc=$?
  BENCH_ENV=()
  if ((!UP)); then
    STORM_ROWS+=("| $server | did not start | | | | | | | |")
    return
  fi
  if [[ ! -s $out ]]; then
    STORM_ROWS+=("| $NAME x2 | run failed (exit $rc) | | | | | | | |")
    return
  fi
  STORM_ROWS+=("$(node -e '
    const [name, file] = process.argv.slice(1);
    const r = JSON.parse(require("fs").readFileSync(file, "utf8"));
    const f = (v, d = 1) => Number(v).toFixed(d);
    const cpu = r.server_cpu.map((c) => `${f(c.total_s, 2)} s`).join(" + ");
    const perConn = r.server_cpu.reduce((a, c) => a + c.us_per_conn, 0);
    const errs = Object.entries(r.storm_errors || {}).map(([k, v]) => `${v}× ${k}`).join("; ");
    console.log(`| ${name}${r.authenticated ? " (JWT)" : ""} | ${r.connected}/${r.conns} in ${f(r.connect_time_ms / 1000, 2)} s | ` +
      `${f(r.handshake_ms.p50)} / ${f(r.handshake_ms.p99)} ms | ${r.back}/${r.conns} | ${f(r.storm_time_ms / 1000, 2)} s | ` +
      `${f(r.storm_handshake_ms.p50)} / ${f(r.storm_handshake_ms.p99)} ms | ${r.storm_failed} (${r.retried} retried)${errs ? ": " + errs : ""} | ` +
      `${cpu} (${f(perConn, 0)} µs/conn) | ${r.alive_at_end} |`);
  ' "$NAME x2" "$out")")
  rm -f "$out"
}

run_fanout() {
  local server=$1 publish=$2 out=$WORK/run.json rc=0
  bench_cluster "$server" "$out" fanout -c "$FC" -rate "$R" -duration "$D" -payload "$P" \
    -publish "$publish" -publishers "$PUBLISHERS" -drain "$DRAIN" -parallel "$PARALLEL" -redis "{redis}" || rc=$?
  if ((!UP)); then
    FANOUT_ROWS+=("| $server, $publish | did not start | | | | | | | | | | | | | |")
    return
  fi
  if [[ ! -s $out ]]; then
    FANOUT_ROWS+=("| $NAME x2, $publish | run failed (exit $rc) | | | | | | | | | | | | | |")
    return
  fi
  FANOUT_ROWS+=("$(fanout_row cluster "$NAME x2, $publish" "$out")")
  rm -f "$out"
}

# Configurations outside, servers inside: both servers run each back to back, so
# anything else on the machine at that time weighs on both alike.
for mode in $MODES; do
  case $mode in
  users | fanout)
    for publish in $PUBLISH; do
      for s in $SERVERS; do "run_$mode" "$s" "$publish"; done
    done
    ;;
  storm) for s in $SERVERS; do run_storm "$s"; done ;;
  *) log "unknown mode $mode" ;;
  esac
done

cores=$(nproc)
redis_v=$(redis-server --version | grep -o 'v=[0-9.]*' | sed 's/v=/redis /')
if ((${#USERS_ROWS[@]})); then
  echo "| server | publish | users×devices | R msg/s | delivered/expected | wrong user | dup / lost | deliveries/s | p50 ms | p99 ms | max ms | p99 ms node 1 / node 2 | server CPU µs/delivery, 2 nodes (% of a core) | Redis commands per message |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${USERS_ROWS[@]}"
  echo
  echo "2 nodes on one private redis-server; U=$U users × K=$K devices, device i on node 1 + (i mod 2), each authenticated"
  echo "with an HS256 JWT (room user:<id>); each message to one random user at R=$R msg/s for D=$D, P=$P B; $PUBLISHERS sender(s)"
  echo "(client: publisher connections, api: requests in flight, both round-robin over the nodes; emitter: PUBLISHes in flight);"
  echo "expected = the connected devices of each message's user; latency = arrival - send stamp. $cores cores shared by both"
  echo "servers, Redis and the client. Built from $BUILD_REV; $redis_v."
  echo
fi
if ((${#STORM_ROWS[@]})); then
  echo "| server | ramp: connected in | ramp handshake p50 / p99 | storm: back | time until all back | storm handshake p50 / p99 | not back (retried) | server CPU in the storm, node 1 + node 2 | alive at end |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${STORM_ROWS[@]}"
  echo
  echo "C=$C connections, half on each node, $PARALLEL dials in flight in the ramp and in the storm; all closed at once, then"
  echo "all redialed at once (failed ones retried up to $RETRIES times at once). Time until all back = first redial .. last"
  echo "CONNECT ack. $cores cores shared by both servers, Redis and the client."
  echo
fi
if ((${#FANOUT_ROWS[@]})); then
  echo "| server, publish path | C | R msg/s | delivered/expected | deliveries/s | p50 ms | p90 ms | p99 ms | max ms | p99 ms node 1 / node 2 | server CPU µs/delivery, 2 nodes (% of a core) | client CPU | other CPU | Redis commands per message | Redis CPU (per message) |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"
  printf '%s\n' "${FANOUT_ROWS[@]}"
  echo
  echo "2 nodes on one private redis-server; FC=$FC subscribers in one room, half on each node; P=$P B, D=$D, drain $DRAIN;"
  echo "$PUBLISHERS sender(s) per path as above. $cores cores shared by both servers, Redis and the client."
fi
