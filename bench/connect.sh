#!/usr/bin/env bash
# Connect cost, build against build: C Socket.IO WebSocket connects (PARALLEL in
# flight) to one Herald, for each build in turn, REPEAT rounds interleaved so the
# builds share the machine's moods. A markdown table goes to stdout.
#
# usage: bench/connect.sh        (from anywhere; it works from the repo root)
#
# env:
#   REVS="HEAD~1 HEAD"   git revisions to build and compare (each in a worktree);
#                        empty (default): the working tree only
#   C=10000  PARALLEL=100  REPEAT=3
#   PORT=3400
#   BENCH_ARGS           more herald-bench idle flags (e.g. "-epoll-client")
#   HERALD_*             Herald's settings pass through
#
# Columns: connect time (first dial .. last CONNECT ack, from herald-bench); server
# CPU (utime+stime of the Herald process from before the first dial until herald-bench
# has exited, so it includes the server's side of the client closing all C at exit),
# per connection; the client's CPU (user+sys, the same span).
set -euo pipefail

cd "$(dirname "$0")/.."
LOG_TAG=connect.sh
. bench/lib.sh

C=${C:-10000}
PARALLEL=${PARALLEL:-100}
REPEAT=${REPEAT:-3}
PORT=${PORT:-3400}
REVS=${REVS:-}

raise_nofile $((C + 100))
go build -o "$WORK/herald-bench" ./cmd/herald-bench
BUILDS=()
if [[ -z $REVS ]]; then
  go build -o "$WORK/herald-tree" ./cmd/herald
  BUILDS=(tree)
else
  for rev in $REVS; do
    name=$(git rev-parse --short "$rev")
    git worktree add -q --detach "$WORK/src-$name" "$rev"
    at_exit git worktree remove --force "$WORK/src-$name"
    (cd "$WORK/src-$name" && go build -o "$WORK/herald-$name" ./cmd/herald)
    BUILDS+=("$name")
  done
fi

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TCK=$(getconf CLK_TCK)
ROWS=()
for ((round = 1; round <= REPEAT; round++)); do
  for b in "${BUILDS[@]}"; do
    port_busy "$PORT" && { log "port $PORT is taken"; exit 1; }
    spawn env HERALD_DEMO=false HERALD_LOG_LEVEL=warn "PORT=$PORT" HERALD_HOST=127.0.0.1 "$WORK/herald-$b"
    pid=$LAST_PID
    wait_port "$PORT" "$pid"
    before=$(cpu_ticks "$pid")
    /usr/bin/time -f '%U %S' -o "$WORK/client.time" "$WORK/herald-bench" idle -url "http://127.0.0.1:$PORT" \
      -c "$C" -parallel "$PARALLEL" -hold 0s -settle 0s -json ${BENCH_ARGS:-} >"$WORK/run.json"
    after=$(cpu_ticks "$pid")
    stop_pid "$pid"
    ROWS+=("$(node -e '
      const [file, build, round, ticks, tck, c, client] = process.argv.slice(1);
      const r = JSON.parse(require("fs").readFileSync(file, "utf8"));
      const server = ticks / tck, [u, s] = client.trim().split(/\s+/).map(Number);
      console.log(`| ${build} | ${round} | ${r.connected}/${r.target} | ${(r.connect_time_ms / 1000).toFixed(2)} s | ` +
        `${server.toFixed(2)} s (${(server / c * 1e6).toFixed(0)} µs/conn) | ${(u + s).toFixed(2)} s |`);
    ' "$WORK/run.json" "$b" "$round" "$((after - before))" "$TCK" "$C" "$(cat "$WORK/client.time")")")
  done
done

echo "| build | round | connected | connect time | server CPU | client CPU |"
echo "|---|---:|---:|---:|---:|---:|"
printf '%s\n' "${ROWS[@]}"
echo
echo "C=$C, PARALLEL=$PARALLEL, herald-bench idle ${BENCH_ARGS:+$BENCH_ARGS }(client reader $(node -p 'require(process.argv[1]).client_reader' "$WORK/run.json")); $(nproc) cores shared by server and client."
