// Command herald-bench is a Socket.IO load client for Herald and peer servers.
//
//	herald-bench idle -url http://127.0.0.1:3000 -c 10000 -pids 1234
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
	"strconv"
	"strings"
	"syscall"
	"time"
)

const usage = `herald-bench: Socket.IO load client (loopback targets only)

usage:
  herald-bench idle [flags]   open C connections, hold them, report connect
                              latency and server RSS per connection

run "herald-bench idle -h" for the flags.
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
		Timeout: *timeout, HandshakeTimeout: *hsTimeout, Namespace: *nsp,
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

	res, runErr := RunIdle(ctx, cfg)
	if res != nil {
		var err error
		if *asJSON {
			err = WriteIdleJSON(stdout, res)
		} else {
			err = WriteIdleTable(stdout, res)
		}
		if err != nil {
			fmt.Fprintf(stderr, "idle: writing result: %v\n", err)
			return 1
		}
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "idle: %v\n", runErr)
		return 1
	}
	return 0
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
