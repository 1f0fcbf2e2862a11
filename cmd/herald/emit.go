package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// emitUsage is printed by `herald emit -help`.
const emitUsage = `Usage: herald emit -event NAME [-data JSON] (-to-all | -to-authenticated | -to-user ID... | -to-room R... | -to-socket SID...) [flags]

Sends one event through a Herald node's HTTP API (POST /api/v1/emit) and prints the
JSON answer: {"id"} or, with -wait, the delivery counts ({"nodes","sockets",
"perNode","missing",...}). Exits 1 when the API refuses the request or cannot be
reached, 2 on a usage error. The key comes from -key or HERALD_API_KEY.

`

// runEmit is the `herald emit` subcommand; it returns the exit code.
func runEmit(args, environ []string, stdout, stderr io.Writer) int {
	vars := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	fs := flag.NewFlagSet("herald emit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", envOr(vars, "HERALD_API_URL", "http://127.0.0.1:3000"), "the node's base URL, or the full emit URL (env HERALD_API_URL)")
	key := fs.String("key", vars["HERALD_API_KEY"], "API key (env HERALD_API_KEY; prefer the variable: flags show in ps)")
	nsp := fs.String("namespace", "/", "namespace")
	event := fs.String("event", "", "event name (required)")
	data := fs.String("data", "", "the event's argument, as JSON; empty sends the event without one")
	toAll := fs.Bool("to-all", false, "send to every socket of the namespace")
	toAuth := fs.Bool("to-authenticated", false, "send to every authenticated socket")
	timeout := fs.Duration("timeout", 10*time.Second, "request timeout")
	wait := fs.Bool("wait", false, "wait for the nodes' delivery counts and print them (\"wait\": true)")
	waitTimeout := fs.Duration("wait-timeout", 0, "with -wait, how long the node waits for the others' counts (0: the node's default, 2s)")
	var toUsers, toRooms, toSockets, exUsers, exRooms, exSockets listFlag
	fs.Var(&toUsers, "to-user", "send to this user's sockets (repeatable)")
	fs.Var(&toRooms, "to-room", "send to this room (repeatable)")
	fs.Var(&toSockets, "to-socket", "send to this socket id (repeatable)")
	fs.Var(&exUsers, "except-user", "leave out this user's sockets (repeatable)")
	fs.Var(&exRooms, "except-room", "leave out this room's sockets (repeatable)")
	fs.Var(&exSockets, "except-socket", "leave out this socket id (repeatable)")
	fs.Usage = func() {
		fmt.Fprint(stderr, emitUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "herald emit: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected argument %q", fs.Arg(0))
	}
	if *event == "" {
		return usage("-event is required")
	}
	if *key == "" {
		return usage("no API key: set HERALD_API_KEY or -key")
	}
	to := map[string]any{}
	if *toAll {
		to["all"] = true
	}
	if *toAuth {
		to["authenticated"] = true
	}
	for kind, ids := range map[string]listFlag{"users": toUsers, "rooms": toRooms, "sockets": toSockets} {
		if len(ids) > 0 {
			to[kind] = ids
		}
	}
	if len(to) != 1 {
		return usage("give exactly one of -to-all, -to-authenticated, -to-user, -to-room, -to-socket")
	}
	body := map[string]any{"namespace": *nsp, "event": *event, "to": to}
	if *wait {
		body["wait"] = true
		if *waitTimeout != 0 {
			ms := waitTimeout.Milliseconds()
			if ms < 1 || *waitTimeout%time.Millisecond != 0 {
				return usage("-wait-timeout must be a whole number of milliseconds, at least 1ms: %v", *waitTimeout)
			}
			body["timeout"] = ms
		}
	} else if *waitTimeout != 0 {
		return usage("-wait-timeout needs -wait")
	}
	if *data != "" {
		if !json.Valid([]byte(*data)) {
			return usage("-data is not valid JSON: %q", *data)
		}
		body["data"] = json.RawMessage(*data)
	}
	except := map[string]any{}
	for kind, ids := range map[string]listFlag{"users": exUsers, "rooms": exRooms, "sockets": exSockets} {
		if len(ids) > 0 {
			except[kind] = ids
		}
	}
	if len(except) > 0 {
		body["except"] = except
	}
	payload, err := json.Marshal(body)
	if err != nil {
		return usage("%v", err)
	}
	url := strings.TrimRight(*base, "/")
	if !strings.HasSuffix(url, "/api/v1/emit") {
		url += "/api/v1/emit"
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return usage("-url: %v", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+*key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(stderr, "herald emit:", err)
		return 1
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		fmt.Fprintln(stderr, "herald emit: reading the answer:", err)
		return 1
	}
	_, _ = stdout.Write(answer)
	if len(answer) > 0 && answer[len(answer)-1] != '\n' {
		fmt.Fprintln(stdout)
	}
	if resp.StatusCode/100 != 2 {
		fmt.Fprintf(stderr, "herald emit: %s (request %s)\n", resp.Status, resp.Header.Get("X-Request-Id"))
		return 1
	}
	return 0
}

func envOr(vars map[string]string, key, def string) string {
	if v, ok := vars[key]; ok && v != "" {
		return v
	}
	return def
}
