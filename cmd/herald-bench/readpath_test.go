package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"strconv"
	"testing"
)

// forReadPaths runs body as one subtest per client read path this system has: "gws"
// (a reader goroutine per connection) and, on Linux, "epoll" (Dialer.Epoll), so the
// scenario tests hold for both.
func forReadPaths(t *testing.T, body func(t *testing.T, epoll bool)) {
	t.Helper()
	paths := []bool{false}
	if epollSupported {
		paths = append(paths, true)
	}
	for _, epoll := range paths {
		t.Run(readPathName(epoll), func(t *testing.T) { body(t, epoll) })
	}
}

// readPathName is the ClientReader of a run with Epoll set to epoll.
func readPathName(epoll bool) string {
	if epoll {
		return "epoll"
	}
	return "gws"
}

// epollFlag is the command-line flag that picks the read path.
func epollFlag(epoll bool) string { return "-epoll-client=" + strconv.FormatBool(epoll) }

// checkReader fails t unless a run reported the read path it was given.
func checkReader(t *testing.T, got string, epoll bool) {
	t.Helper()
	if want := readPathName(epoll); got != want {
		t.Errorf("client reader %q, want %q", got, want)
	}
}

// -epoll-client is off by default (every Dialer-backed command takes it: their JSON
// tests pass it both ways).
func TestEpollClientFlagDefault(t *testing.T) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	epoll := addEpollFlag(fs)
	if err := fs.Parse(nil); err != nil || *epoll {
		t.Fatalf("-epoll-client defaults to %v (%v), want false", *epoll, err)
	}
	if err := fs.Parse([]string{"-epoll-client=false"}); err != nil || *epoll {
		t.Fatalf("-epoll-client=false gives %v (%v)", *epoll, err)
	}
}

// runJSON runs herald-bench with args and -json, and decodes what it printed into v.
// A non-zero exit or output that is not JSON fails the test.
func runJSON(t *testing.T, args []string, v any) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), append(args, "-json"), &out, &errb); code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errb.String())
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		t.Fatalf("bad JSON %v:\n%s", err, out.String())
	}
}
