// Command herald-bench is a Socket.IO load client for Herald and peer servers.
//
//	herald-bench idle -url http://127.0.0.1:3000 -c 10000 -pids 1234
//	herald-bench fanout -url http://127.0.0.1:3000 -c 1000 -rate 1000 -duration 10s -pids 1234
//	herald-bench users -url http://127.0.0.1:3000 -users 1000 -devices 2 -rate 500 -jwt-secret … -publish api -api-key …
//	herald-bench connect-storm -url http://127.0.0.1:3000 -c 10000 -parallel 100 -pids 1234
//
// It only ever targets loopback addresses, and every run is bounded in
// connection count and time.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const usage = `herald-bench: Socket.IO load client (loopback targets only)

usage:
  herald-bench idle [flags]   open C connections, hold them, report connect
                              latency and server RSS per connection
  herald-bench fanout [flags] C subscribers join a room on /bench, publishers
                              broadcast to it at a fixed rate; report delivery,
                              loss, latency and server CPU per delivery
  herald-bench users [flags]  U users × K devices authenticate with a JWT (room
                              user:<id>); messages to random users at a fixed
                              rate; every device of the target user must get each
                              exactly once, no other user's device any
  herald-bench connect-storm [flags]
                              C connections ramp up, all drop at once and all
                              reconnect at once; report the ramp's connect time
                              and the time until all are back

fanout and users publish through -publish=client|api|emitter.
run "herald-bench SCENARIO -h" for the flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "idle":
		return runIdleCmd(ctx, args[1:], stdout, stderr)
	case "fanout":
		return runFanoutCmd(ctx, args[1:], stdout, stderr)
	case "users":
		return runUsersCmd(ctx, args[1:], stdout, stderr)
	case "connect-storm", "storm":
		return runStormCmd(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "herald-bench: unknown scenario %q\n\n%s", args[0], usage)
		return 2
	}
}

func runIdleCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var urls listFlag
	fs.Var(&urls, "url", "base URL, e.g. http://127.0.0.1:3000 (repeatable or comma-separated; round-robin)")
	conns := fs.Int("c", 1000, "connections")
	parallel := fs.Int("parallel", 100, "dials in flight")
	hold := fs.Duration("hold", 5*time.Second, "how long to hold after all are connected")
	settle := fs.Duration("settle", 2*time.Second, "wait after all are connected before the RSS 'after' sample")
	pidsFlag := fs.String("pids", "", "comma-separated server pids whose RSS to sample")
	asJSON := fs.Bool("json", false, "write a JSON result to stdout instead of the table")
	timeout := fs.Duration("timeout", 2*time.Minute, "overall cap for the run")
	hsTimeout := fs.Duration("handshake-timeout", 10*time.Second, "per-connection cap: dial start → CONNECT ack")
	nsp := fs.String("nsp", "/", "Socket.IO namespace to connect to")
	path := fs.String("path", "/socket.io/", "Engine.IO path (unless the URL has one)")
	epoll := addEpollFlag(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "idle: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if len(urls) == 0 {
		urls = listFlag{"http://127.0.0.1:3000"}
	}
	cfg := IdleConfig{
		Conns: *conns, Parallel: *parallel, Hold: *hold, Settle: *settle,
		Timeout: *timeout, HandshakeTimeout: *hsTimeout, Namespace: *nsp, Epoll: *epoll,
	}
	if !strings.HasPrefix(cfg.Namespace, "/") {
		cfg.Namespace = "/" + cfg.Namespace
	}
	for _, u := range urls {
		t, err := ParseTarget(u, *path)
		if err != nil {
			fmt.Fprintf(stderr, "idle: %v\n", err)
			return 2
		}
		cfg.Targets = append(cfg.Targets, t)
	}
	pids, err := parsePIDs(*pidsFlag)
	if err != nil {
		fmt.Fprintf(stderr, "idle: %v\n", err)
		return 2
	}
	cfg.PIDs = pids
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "idle: %v\n", err)
		return 2
	}
	// Each connection needs one descriptor here; keep some headroom.
	if _, err := RaiseNoFile(cfg.Conns + 64); err != nil {
		fmt.Fprintf(stderr, "idle: %v\n", err)
		return 1
	}
	if f, ok := stdout.(*os.File); ok && !*asJSON && isTerminal(f) {
		cfg.Progress = progressPrinter(stdout)
	}

	res, err := RunIdle(ctx, cfg)
	return report("idle", res, err, *asJSON, stdout, stderr, WriteIdleTable, WriteIdleJSON)
}

func runFanoutCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fanout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var urls listFlag
	fs.Var(&urls, "url", "base URL, e.g. http://127.0.0.1:3000 (repeatable or comma-separated; subscribers and publishers round-robin)")
	subs := fs.Int("c", 1000, "subscriber connections")
	pubs := fs.Int("publishers", 1, "senders at once: publisher connections (-publish=client; they do not join the room, messages round-robin over them), HTTP requests in flight (api), PUBLISHes in flight (emitter)")
	parallel := fs.Int("parallel", 100, "dials in flight")
	rate := fs.Float64("rate", 1000, "messages per second, all publishers together")
	duration := fs.Duration("duration", 10*time.Second, "how long to publish (rate × duration messages)")
	payload := fs.Int("payload", 100, "payload object size in bytes (timestamp, sequence number, padding)")
	room := fs.String("room", "fanout", `room to join and broadcast to; "" broadcasts to the whole namespace`)
	nsp := fs.String("nsp", "/bench", "Socket.IO namespace (the server must register the bench events there)")
	path := fs.String("path", "/socket.io/", "Engine.IO path (unless the URL has one)")
	plain := fs.Bool("plain", false, `subscribers use the plain WebSocket endpoint ({"event","data"} envelopes; the server must put it in the bench namespace, e.g. HERALD_WS_NAMESPACE=/bench); publishers stay Socket.IO`)
	plainPath := fs.String("plain-path", "/ws", "the plain WebSocket endpoint's path (-plain)")
	drain := fs.Duration("drain", 5*time.Second, "after the last send, how long to wait for missing messages")
	timeout := fs.Duration("timeout", 3*time.Minute, "overall cap for the run")
	hsTimeout := fs.Duration("handshake-timeout", 10*time.Second, "per-connection cap for the handshake and for the join ack")
	readBuf := fs.Int("read-buffer", 4096, "per-connection read buffer, bytes (with -epoll-client=false; the epoll reader has none)")
	pidsFlag := fs.String("pids", "", "comma-separated server pids whose CPU to sample")
	redisFlag := fs.String("redis", "", "the cluster's Redis (loopback HOST:PORT): wait for every node's room subscription before the first send, report its commands (INFO commandstats), CPU and bytes in the window, per message published; the emitter path publishes there")
	pf := addPublishFlags(fs)
	asJSON := fs.Bool("json", false, "write a JSON result to stdout instead of the table")
	cpuProfile := fs.String("cpuprofile", "", "write this client's CPU profile (publish and drain) to the file")
	epoll := addEpollFlag(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "fanout: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if len(urls) == 0 {
		urls = listFlag{"http://127.0.0.1:3000"}
	}
	cfg := FanoutConfig{
		Namespace: *nsp, Room: *room, Subscribers: *subs, Publishers: *pubs, Parallel: *parallel,
		Rate: *rate, Duration: *duration, PayloadBytes: *payload, Drain: *drain, Timeout: *timeout,
		HandshakeTimeout: *hsTimeout, ReadBufferSize: *readBuf, Publish: pf.config(), ReadyTimeout: *pf.readyTimeout,
		Plain: *plain, PlainPath: *plainPath, Epoll: *epoll,
	}
	if !strings.HasPrefix(cfg.Namespace, "/") {
		cfg.Namespace = "/" + cfg.Namespace
	}
	for _, u := range urls {
		t, err := ParseTarget(u, *path)
		if err != nil {
			fmt.Fprintf(stderr, "fanout: %v\n", err)
			return 2
		}
		cfg.Targets = append(cfg.Targets, t)
	}
	pids, err := parsePIDs(*pidsFlag)
	if err != nil {
		fmt.Fprintf(stderr, "fanout: %v\n", err)
		return 2
	}
	cfg.PIDs = pids
	if *redisFlag != "" {
		if cfg.RedisAddr, err = ParseRedisAddr(*redisFlag); err != nil {
			fmt.Fprintf(stderr, "fanout: %v\n", err)
			return 2
		}
	}
	if *pubs < 1 {
		fmt.Fprintln(stderr, "fanout: -publishers must be at least 1")
		return 2
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "fanout: %v\n", err)
		return 2
	}
	if _, err := RaiseNoFile(cfg.Subscribers + cfg.Publishers + 64); err != nil {
		fmt.Fprintf(stderr, "fanout: %v\n", err)
		return 1
	}
	if f, ok := stdout.(*os.File); ok && !*asJSON && isTerminal(f) {
		cfg.Progress = fanoutProgressPrinter(stdout)
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "fanout: %v\n", err)
			return 1
		}
		defer f.Close()
		cfg.OnPublish = func(start bool) {
			if !start {
				pprof.StopCPUProfile()
			} else if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintf(stderr, "fanout: cpu profile: %v\n", err)
			}
		}
	}

	res, err := RunFanout(ctx, cfg)
	return report("fanout", res, err, *asJSON, stdout, stderr, WriteFanoutTable, WriteFanoutJSON)
}

func runUsersCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("users", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var urls listFlag
	fs.Var(&urls, "url", "base URL, e.g. http://127.0.0.1:3000 (repeatable or comma-separated; device i uses URL i mod n, publisher j URL j mod n)")
	users := fs.Int("users", 100, "users")
	devices := fs.Int("devices", 2, "devices (connections) per user; device i belongs to user i / devices")
	pubs := fs.Int("publishers", 1, "senders at once: publisher connections (-publish=client), HTTP requests in flight (api), PUBLISHes in flight (emitter)")
	parallel := fs.Int("parallel", 100, "dials in flight")
	rate := fs.Float64("rate", 100, "messages per second, each to one user picked at random")
	duration := fs.Duration("duration", 10*time.Second, "how long to publish (rate × duration messages)")
	payload := fs.Int("payload", 100, "payload object size in bytes (timestamp, sequence number, padding)")
	secret := fs.String("jwt-secret", "", "HS256 secret the server verifies tokens with (HERALD_JWT_SECRET; the environment variable HERALD_BENCH_JWT_SECRET is read when this is empty)")
	roomPrefix := fs.String("user-room-prefix", "user:", "the server's user room prefix (HERALD_USER_ROOM_PREFIX), for the client and emitter paths")
	seed := fs.Uint64("seed", 1, "seed of the random target users")
	nsp := fs.String("nsp", "/bench", "Socket.IO namespace (the server must register the bench events there)")
	path := fs.String("path", "/socket.io/", "Engine.IO path (unless the URL has one)")
	drain := fs.Duration("drain", 5*time.Second, "after the last send, how long to wait for missing messages")
	timeout := fs.Duration("timeout", 3*time.Minute, "overall cap for the run")
	hsTimeout := fs.Duration("handshake-timeout", 10*time.Second, "per-connection cap for the handshake")
	readBuf := fs.Int("read-buffer", 4096, "per-connection read buffer, bytes (with -epoll-client=false; the epoll reader has none)")
	pidsFlag := fs.String("pids", "", "comma-separated server pids whose CPU to sample")
	redisFlag := fs.String("redis", "", "the cluster's Redis (loopback HOST:PORT): wait for every node's user-room subscriptions before the first send, report its commands, CPU and bytes; the emitter path publishes there")
	pf := addPublishFlags(fs)
	asJSON := fs.Bool("json", false, "write a JSON result to stdout instead of the table")
	epoll := addEpollFlag(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "users: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if len(urls) == 0 {
		urls = listFlag{"http://127.0.0.1:3000"}
	}
	if *secret == "" {
		*secret = os.Getenv("HERALD_BENCH_JWT_SECRET")
	}
	cfg := UsersConfig{
		Namespace: *nsp, Users: *users, Devices: *devices, Publishers: *pubs, Publish: pf.config(),
		Parallel: *parallel, Rate: *rate, Duration: *duration, PayloadBytes: *payload, Drain: *drain,
		Timeout: *timeout, HandshakeTimeout: *hsTimeout, ReadBufferSize: *readBuf, JWTSecret: []byte(*secret),
		UserRoomPrefix: *roomPrefix, Seed: *seed, ReadyTimeout: *pf.readyTimeout, Epoll: *epoll,
	}
	if !strings.HasPrefix(cfg.Namespace, "/") {
		cfg.Namespace = "/" + cfg.Namespace
	}
	var err error
	if cfg.Targets, err = parseTargets(urls, *path); err != nil {
		fmt.Fprintf(stderr, "users: %v\n", err)
		return 2
	}
	if cfg.PIDs, err = parsePIDs(*pidsFlag); err != nil {
		fmt.Fprintf(stderr, "users: %v\n", err)
		return 2
	}
	if *redisFlag != "" {
		if cfg.RedisAddr, err = ParseRedisAddr(*redisFlag); err != nil {
			fmt.Fprintf(stderr, "users: %v\n", err)
			return 2
		}
	}
	if *pubs < 1 {
		fmt.Fprintln(stderr, "users: -publishers must be at least 1")
		return 2
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "users: %v\n", err)
		return 2
	}
	if _, err := RaiseNoFile(cfg.Users*cfg.Devices + cfg.Publishers + 64); err != nil {
		fmt.Fprintf(stderr, "users: %v\n", err)
		return 1
	}
	if f, ok := stdout.(*os.File); ok && !*asJSON && isTerminal(f) {
		cfg.Progress = fanoutProgressPrinter(stdout)
	}
	res, err := RunUsers(ctx, cfg)
	return report("users", res, err, *asJSON, stdout, stderr, WriteUsersTable, WriteUsersJSON)
}

func runStormCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("connect-storm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var urls listFlag
	fs.Var(&urls, "url", "base URL, e.g. http://127.0.0.1:3000 (repeatable or comma-separated; connection i uses URL i mod n)")
	conns := fs.Int("c", 1000, "connections")
	parallel := fs.Int("parallel", 100, "dials in flight, in the ramp and in the storm")
	retries := fs.Int("retries", 3, "in the storm, how many more times a failed connection is dialed again (at once)")
	secret := fs.String("jwt-secret", "", "if set (or HERALD_BENCH_JWT_SECRET), connection i authenticates as user u<i> with an HS256 token")
	nsp := fs.String("nsp", "/", "Socket.IO namespace to connect to")
	path := fs.String("path", "/socket.io/", "Engine.IO path (unless the URL has one)")
	timeout := fs.Duration("timeout", 3*time.Minute, "overall cap for the run")
	hsTimeout := fs.Duration("handshake-timeout", 10*time.Second, "per-attempt cap: dial start → CONNECT ack")
	pidsFlag := fs.String("pids", "", "comma-separated server pids whose CPU to sample over the storm")
	asJSON := fs.Bool("json", false, "write a JSON result to stdout instead of the table")
	epoll := addEpollFlag(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "connect-storm: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if len(urls) == 0 {
		urls = listFlag{"http://127.0.0.1:3000"}
	}
	if *secret == "" {
		*secret = os.Getenv("HERALD_BENCH_JWT_SECRET")
	}
	cfg := StormConfig{Namespace: *nsp, Conns: *conns, Parallel: *parallel, Retries: *retries, Timeout: *timeout,
		HandshakeTimeout: *hsTimeout, JWTSecret: []byte(*secret), Epoll: *epoll}
	if !strings.HasPrefix(cfg.Namespace, "/") {
		cfg.Namespace = "/" + cfg.Namespace
	}
	var err error
	if cfg.Targets, err = parseTargets(urls, *path); err != nil {
		fmt.Fprintf(stderr, "connect-storm: %v\n", err)
		return 2
	}
	if cfg.PIDs, err = parsePIDs(*pidsFlag); err != nil {
		fmt.Fprintf(stderr, "connect-storm: %v\n", err)
		return 2
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "connect-storm: %v\n", err)
		return 2
	}
	if _, err := RaiseNoFile(cfg.Conns + 64); err != nil {
		fmt.Fprintf(stderr, "connect-storm: %v\n", err)
		return 1
	}
	if f, ok := stdout.(*os.File); ok && !*asJSON && isTerminal(f) {
		cfg.Progress = stormProgressPrinter(stdout)
	}
	res, err := RunStorm(ctx, cfg)
	return report("connect-storm", res, err, *asJSON, stdout, stderr, WriteStormTable, WriteStormJSON)
}

// report writes a scenario's result, as a table or as JSON, even a partial one the run
// returned with its error, and returns the exit code: 0, or 1 when the run or the
// writing failed.
func report[R any](name string, res *R, runErr error, asJSON bool, stdout, stderr io.Writer,
	table, js func(io.Writer, *R) error) int {
	if res != nil {
		write := table
		if asJSON {
			write = js
		}
		if err := write(stdout, res); err != nil {
			fmt.Fprintf(stderr, "%s: writing result: %v\n", name, err)
			return 1
		}
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, runErr)
		return 1
	}
	return 0
}

func parseTargets(urls []string, path string) ([]Target, error) {
	var out []Target
	for _, u := range urls {
		t, err := ParseTarget(u, path)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// addEpollFlag adds -epoll-client, the client's read path (Dialer.Epoll), off by
// default. The epoll reader costs less per connection and per message at low rates,
// but on a saturated machine its GOMAXPROCS pollers get a smaller share of the CPU
// than gws's reader goroutines: at 5 000 msg/s × 1 000 subscribers over 2 nodes the
// servers dropped 440–950 subscribers as slow consumers with it and none with gws
// (BENCHMARKS.md), so it would measure the client rather than the server there.
func addEpollFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("epoll-client", false, "read the connections with epoll: GOMAXPROCS pollers instead of a goroutine "+
		"and a read buffer per connection (Linux only; less client CPU at low rates, but it falls behind a saturated machine)")
}

// publishFlags are the publish-path flags of fanout and users.
type publishFlags struct {
	path, apiKey, clusterKey *string
	apiURLs                  listFlag
	readyTimeout             *time.Duration
	apiWait                  *bool
}

func addPublishFlags(fs *flag.FlagSet) *publishFlags {
	pf := &publishFlags{
		path: fs.String("publish", PublishClient, "publish path: client (a publisher connection emits broadcast(room, payload) on the bench namespace), "+
			"api (POST /api/v1/emit with -api-key), emitter (PUBLISH in the @socket.io/redis-emitter format on -redis)"),
		apiKey:       fs.String("api-key", "", "bearer key for -publish=api (HERALD_API_KEYS on the server; the environment variable HERALD_BENCH_API_KEY is read when this is empty)"),
		clusterKey:   fs.String("cluster-key", "socket.io", "channel prefix of the cluster (HERALD_CLUSTER_KEY; the redis-adapter key): for -publish=emitter and the subscription wait"),
		readyTimeout: fs.Duration("ready-timeout", 10*time.Second, "with -redis, the longest wait for every node's room subscriptions before the first send"),
		apiWait:      fs.Bool("api-wait", false, `with -publish=api, ask for delivery accounting ("wait": true): the answers' counts are summed and compared with the deliveries`),
	}
	fs.Var(&pf.apiURLs, "api-url", "HTTP API base URL for -publish=api (repeatable; sender j uses URL j mod n); default: the -url targets")
	return pf
}

func (pf *publishFlags) config() PublishConfig {
	key := *pf.apiKey
	if key == "" {
		key = os.Getenv("HERALD_BENCH_API_KEY")
	}
	return PublishConfig{Path: *pf.path, APIURLs: pf.apiURLs, APIKey: key, ClusterKey: *pf.clusterKey, APIWait: *pf.apiWait}
}

// listFlag collects repeatable, comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func parsePIDs(s string) ([]int, error) {
	var pids []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("bad pid %q in -pids", f)
		}
		pids = append(pids, pid)
	}
	return pids, nil
}
