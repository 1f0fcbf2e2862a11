# Shell functions shared by the bench scripts (fanout.sh, cluster.sh, idle.sh, users.sh).
# Source it after `cd` to the repository root and after setting LOG_TAG:
#
#   LOG_TAG=fanout.sh; . bench/lib.sh
#
# It defines ROOT, PEER_DIR and WORK (a temporary directory), and installs an EXIT
# trap that stops every process started with spawn (by pid, newest first) and
# removes WORK. Scripts add their own cleanup with `at_exit CMD`.

ROOT=$PWD
PEER_DIR=$ROOT/bench/peers/socketio-node
WORK=$(mktemp -d -t "herald-${LOG_TAG%.sh}.XXXXXX")

log() { echo "$LOG_TAG: $*" >&2; }

PIDS=()     # processes started by spawn and not stopped yet, oldest first
LAST_PID="" # the latest one
EXIT_HOOKS=()

at_exit() { EXIT_HOOKS+=("$*"); }

_lib_cleanup() {
  local h
  for h in "${EXIT_HOOKS[@]}"; do eval "$h" || true; done
  stop_all
  rm -rf "$WORK"
}
trap _lib_cleanup EXIT
trap 'exit 130' INT TERM

# spawn CMD ARGS...: start CMD in the background, its stdout and stderr going to our
# stderr; its pid is LAST_PID. Use `spawn env K=V... CMD` to set its environment (env
# execs CMD, so the pid is CMD's).
spawn() {
  "$@" >&2 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

# spawn_to FILE CMD ARGS...: spawn with stdout and stderr to FILE.
spawn_to() {
  local file=$1
  shift
  "$@" >"$file" 2>&1 &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

# stop_pid PID: SIGTERM, up to 5 s for it to exit, then SIGKILL.
stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

# stop_all: stop every spawned process, newest first (servers before the Redis they use).
stop_all() {
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
  PIDS=()
}

# port_busy PORT: something listens on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port START: the first port from START up (100 tries) that nothing listens on.
free_port() {
  local p
  for ((p = $1; p < $1 + 100; p++)); do
    if ! port_busy "$p"; then
      echo "$p"
      return 0
    fi
  done
  log "no free port in $1..$(($1 + 99))"
  return 1
}

# wait_port PORT PID: until something accepts on 127.0.0.1:PORT (30 s cap) while PID
# is alive.
wait_port() {
  local port=$1 pid=$2 deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "pid $pid exited before listening on $port"
      return 1
    fi
    if port_busy "$port"; then
      return 0
    fi
    sleep 0.1
  done
  log "pid $pid did not listen on $port within 30s"
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

# wait_quiet: until the machine is below QUIET% for two seconds running, or QUIET_WAIT
# seconds. QUIET=100 turns it off.
wait_quiet() {
  ((${QUIET:-20} >= 100)) && return 0
  local deadline=$((SECONDS + ${QUIET_WAIT:-600})) calm=0 p said=""
  while ((SECONDS < deadline)); do
    p=$(busy_percent)
    if ((p < ${QUIET:-20})); then
      calm=$((calm + 1))
      ((calm >= 2)) && return 0
    else
      calm=0
      [[ -z $said ]] && log "machine busy (${p}% of all cores); waiting up to ${QUIET_WAIT:-600}s for it to drop below ${QUIET:-20}%"
      said=1
    fi
  done
  log "machine still busy (${p}%); running anyway"
}

# raise_nofile N: raise the open-file limit to the hard limit; fail below N.
raise_nofile() {
  ulimit -n "$(ulimit -Hn)"
  if (($(ulimit -n) < $1)); then
    log "open-file limit $(ulimit -n) is too low (need $1)"
    return 1
  fi
}

# build_tools: herald-bench and herald into WORK; BUILD_REV is the tree they came from.
build_tools() {
  BUILD_REV=$(git describe --always --dirty 2>/dev/null || echo "unknown revision")
  log "building herald-bench and herald ($BUILD_REV)"
  go build -o "$WORK/herald-bench" ./cmd/herald-bench
  go build -o "$WORK/herald" ./cmd/herald
}

# node_peer_setup: npm ci the Node peer if needed; sets NODE_PEER_NAME.
node_peer_setup() {
  if [[ ! -d $PEER_DIR/node_modules ]]; then
    log "installing the node peer (npm ci)"
    (cd "$PEER_DIR" && npm ci --no-audit --no-fund >&2)
  fi
  NODE_PEER_NAME="socket.io $(node -p 'require(process.argv[1]).version' "$PEER_DIR/node_modules/socket.io/package.json") (node $(node --version))"
}

# herald_label: what a table's "herald" row ran with, when the environment changes the
# binary's write delay (default 30ms, applied under load) or its reader (default epoll).
herald_label() {
  local d=${HERALD_WRITE_DELAY:-30ms} adaptive=${HERALD_WRITE_DELAY_ADAPTIVE:-true}
  if [[ $d == 0 || $d == 0s ]]; then
    printf ' (no write delay)'
  elif [[ $adaptive == false ]]; then
    printf ' (write delay %s always)' "$d"
  elif [[ -n ${HERALD_WRITE_DELAY:-} ]]; then
    printf ' (write delay %s under load)' "$d"
  fi
  [[ ${HERALD_EPOLL_READS:-} == false ]] && printf ' (goroutine reads)'
  return 0
}

# start_herald PORT [REDIS_ADDR [DEBUG_ADDR]]: spawn Herald with the bench namespace,
# in a cluster over REDIS_ADDR when given. HERALD_DEBUG_ADDR from the environment is
# used when DEBUG_ADDR is not given.
start_herald() {
  local port=$1 redis=${2:-} debug=${3:-${HERALD_DEBUG_ADDR:-}}
  local -a envs=(HERALD_BENCH=true HERALD_DEMO=false "PORT=$port" HERALD_HOST=127.0.0.1 "HERALD_DEBUG_ADDR=$debug")
  [[ -n $redis ]] && envs+=("HERALD_REDIS_URL=$redis")
  port_busy "$port" && { log "port $port is taken"; return 1; }
  log "starting herald on 127.0.0.1:$port${redis:+ (cluster over redis $redis)}${debug:+, pprof on $debug}"
  spawn env "${envs[@]}" "$WORK/herald"
  wait_port "$port" "$LAST_PID"
}

# start_node_peer PORT [REDIS_ADDR]: spawn the Node socket.io peer, with
# @socket.io/redis-adapter over REDIS_ADDR when given.
start_node_peer() {
  local port=$1 redis=${2:-}
  local -a envs=("PORT=$port" HOST=127.0.0.1)
  [[ -n $redis ]] && envs+=("REDIS_URL=redis://$redis")
  port_busy "$port" && { log "port $port is taken"; return 1; }
  log "starting the node peer on 127.0.0.1:$port${redis:+ (redis-adapter over $redis)}"
  spawn env "${envs[@]}" node "$PEER_DIR/server.mjs"
  wait_port "$port" "$LAST_PID"
}

# start_redis: spawn a private redis-server (nothing persisted) on a free loopback
# port from REDIS_PORT_BASE (default 6390) up; sets REDIS_PORT and REDIS_PID. Never
# the Redis on 6379.
start_redis() {
  command -v redis-server >/dev/null || { log "redis-server is not installed (apt-get install -y redis-server)"; return 1; }
  REDIS_PORT=$(free_port "${REDIS_PORT_BASE:-6390}")
  if ((REDIS_PORT == 6379)); then REDIS_PORT=$(free_port 6380); fi
  mkdir -p "$WORK/redis"
  spawn_to "$WORK/redis/log" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$WORK/redis" --loglevel warning
  REDIS_PID=$LAST_PID
  local deadline=$((SECONDS + 10))
  until [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]; do
    if ((SECONDS >= deadline)) || ! kill -0 "$REDIS_PID" 2>/dev/null; then
      log "redis-server on $REDIS_PORT did not answer PING:"
      cat "$WORK/redis/log" >&2
      return 1
    fi
    sleep 0.05
  done
  log "redis-server on 127.0.0.1:$REDIS_PORT (pid $REDIS_PID)"
}

# start_cluster SERVER: a fresh private Redis and two nodes of SERVER (herald or node)
# on it, node i on 127.0.0.1:PORT_BASE+i-1 (Herald node i with pprof on
# DEBUG_PORT_BASE+i-1 when DEBUG_PORT_BASE is set); sets PID1, PID2 and NAME. Returns
# once both nodes have subscribed on Redis; fails (nonzero) if any does not start.
start_cluster() {
  start_redis || return 1
  local redis=127.0.0.1:$REDIS_PORT i port
  PID1="" PID2=""
  for i in 1 2; do
    port=$((PORT_BASE + i - 1))
    case $1 in
    herald)
      NAME=herald$(herald_label)
      start_herald "$port" "$redis" "${DEBUG_PORT_BASE:+127.0.0.1:$((DEBUG_PORT_BASE + i - 1))}" || return 1
      ;;
    node)
      NAME=$NODE_PEER_NAME
      start_node_peer "$port" "$redis" || return 1
      ;;
    esac
    printf -v "PID$i" %s "$LAST_PID"
  done
  # Both adapters' subscriptions are in place before the first subscriber dials.
  local deadline=$((SECONDS + 10)) subs
  while ((SECONDS < deadline)); do
    subs=$(redis-cli -p "$REDIS_PORT" client list | grep -cE ' (sub=[1-9]|psub=[1-9])' || true)
    ((subs >= 2)) && return 0
    sleep 0.05
  done
  log "the nodes did not both subscribe on Redis within 10s"
  return 1
}

# random_secret: 32 random characters (base64 of 24 bytes), for a JWT secret or an
# API key that lives for one script run.
random_secret() { head -c 24 /dev/urandom | base64 | tr '+/' '-_'; }

# redis_rx PID PORT: bytes PID has received on its TCP connections to
# 127.0.0.1:PORT (the kernel's tcp_info bytes_received, summed; `ss -tinp`), then the
# number of such connections.
redis_rx() {
  ss -tinpH state established "( dport = :$2 )" | awk -v tag="pid=$1," '
    /users:/ { mine = index($0, tag) > 0; if (mine) n++; next }
    mine && match($0, /bytes_received:[0-9]+/) { sum += substr($0, RSTART + 15, RLENGTH - 15); mine = 0 }
    END { printf "%d %d\n", sum, n }'
}

# keep_json NAME FILE: copy a run's JSON to JSON_DIR (when set) as NAME.json.
keep_json() {
  [[ -n ${JSON_DIR:-} && -s $2 ]] || return 0
  mkdir -p "$JSON_DIR"
  cp "$2" "$JSON_DIR/$(echo "$1" | tr -c 'A-Za-z0-9.\n-' _).json"
}

# fanout_row MODE NAME FILE: a markdown table row from a `herald-bench fanout -json`
# result. MODE "single": the columns of fanout.sh; "cluster": those of cluster.sh
# (p90, p99 per node and Redis added; P left to the caption).
fanout_row() {
  node -e '
    const [mode, name, file] = process.argv.slice(1);
    const r = JSON.parse(require("fs").readFileSync(file, "utf8"));
    const f = (v, d = 1) => Number(v).toFixed(d);
    const notes = [];
    if (r.lost) notes.push(`lost ${r.lost}`);
    if (r.duplicates) notes.push(`dup ${r.duplicates}`);
    if (r.disconnects) notes.push(`dropped ${r.disconnects}`);
    if (!r.drained) notes.push("not drained");
    if (r.timed_out) notes.push("timed out");
    if (r.sent < r.planned) notes.push(`sent ${r.sent}/${r.planned}`);
    const l = r.latency_ms, s = r.server_cpu_total, c = r.client_cpu, o = r.other_cpu;
    const head = `| ${name} | ${r.joined} | ${r.rate_per_s} | ${r.payload_bytes} | ` +
      `${r.delivered}/${r.expected}${notes.length ? " (" + notes.join(", ") + ")" : ""} | ` +
      `${Math.round(r.deliveries_per_s)} | `;
    if (mode === "single") {
      console.log(head + `${f(l.p50, 2)} ms | ${f(l.p99, 2)} ms | ${f(l.max, 1)} ms | ` +
        `${f(s.us_per_delivery, 3)} (${f(s.percent, 0)}%) | ${f(c.us_per_delivery, 3)} (${f(c.percent, 0)}%) | ${f(o.percent, 0)}% |`);
      process.exit(0);
    }
    const rd = r.redis || { calls: {}, calls_per_message: NaN, cpu: { percent: NaN }, cpu_us_per_message: NaN };
    const per = (k) => f((rd.calls[k] || 0) / Math.max(r.sent, 1), 2);
    const other = Object.entries(rd.calls).filter(([k]) => k !== "publish")
      .sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ");
    const byNode = (r.per_target || []).map((t) => f(t.latency_ms.p99, 1)).join(" / ");
    console.log(`| ${name} | ${r.joined} | ${r.rate_per_s} | ` +
      `${r.delivered}/${r.expected}${notes.length ? " (" + notes.join(", ") + ")" : ""} | ` +
      `${Math.round(r.deliveries_per_s)} | ${f(l.p50, 2)} | ${f(l.p90, 2)} | ${f(l.p99, 2)} | ${f(l.max, 1)} | ${byNode} | ` +
      `${f(s.us_per_delivery, 3)} (${f(s.percent, 0)}%) | ${f(c.percent, 0)}% | ${f(o.percent, 0)}% | ` +
      `${f(rd.calls_per_message, 2)} (publish ${per("publish")}${other ? "; " + other : ""}) | ` +
      `${f(rd.cpu.percent, 0)}% (${f(rd.cpu_us_per_message, 1)} µs/msg) |`);
  ' "$@"
}
