package api_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/api"
	"github.com/heraldhq/herald/internal/testclient"
)

// syncBuffer is a log sink tests can read while the server writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestBadRequests: every refusal has its status and a message naming the field, and
// emits nothing (a marker is the only thing the socket sees afterwards).
func TestBadRequests(t *testing.T) {
	node, addr := startNode(t, herald.Config{})
	var busErr error
	var logs syncBuffer
	srv, err := api.New(api.Config{
		Keys: []string{key}, IO: node.IO(), Auth: node.Auth(), BodyLimit: 200,
		BusCheck: func(context.Context) error { return busErr },
		Logger:   slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	base := hs.URL + "/api/v1/"
	c := sioClient(t, "c", addr, token(t, "A"))

	for _, tc := range []struct {
		method, path, body string
		status             int
		msg                string
	}{
		{"POST", "emit", `{"event":`, 400, "body: malformed JSON: unexpected end"},
		{"POST", "emit", `{"event":"x",}`, 400, "body: malformed JSON at offset 14: invalid character '}' looking for beginning of object key string"},
		{"POST", "emit", ``, 400, "body: empty; want a JSON object"},
		{"POST", "emit", `[1]`, 400, "body: must be a JSON object, got array"},
		{"POST", "emit", `{"event":"x","to":{"all":true}} {}`, 400, "body: unexpected data after the JSON object"},
		{"POST", "emit", `{"evnt":"x","to":{"all":true}}`, 400, `body: unknown field "evnt"`},
		{"POST", "emit", `{"to":{"all":true}}`, 400, "event: required"},
		{"POST", "emit", `{"event":"","to":{"all":true}}`, 400, "event: must not be empty"},
		{"POST", "emit", `{"event":7,"to":{"all":true}}`, 400, "event: must be a string, got number"},
		{"POST", "emit", `{"event":"disconnect","to":{"all":true}}`, 400, `event: "disconnect" is reserved`},
		{"POST", "emit", `{"event":"x","namespace":"chat","to":{"all":true}}`, 400, `namespace: must start with /, got "chat"`},
		{"POST", "emit", `{"event":"x"}`, 400, "to: required, one of all, authenticated, users, rooms, sockets"},
		{"POST", "emit", `{"event":"x","to":{}}`, 400, "to: required, one of all, authenticated, users, rooms, sockets"},
		{"POST", "emit", `{"event":"x","to":"all"}`, 400, "to: must be an object with one of all, authenticated, users, rooms, sockets"},
		{"POST", "emit", `{"event":"x","to":{"groups":["a"]}}`, 400, `to: unknown kind "groups" (want one of all, authenticated, users, rooms, sockets)`},
		{"POST", "emit", `{"event":"x","to":{"users":["A"],"rooms":["r"]}}`, 400, "to: give exactly one kind, got rooms, users"},
		{"POST", "emit", `{"event":"x","to":{"all":false}}`, 400, "to.all: must be true"},
		{"POST", "emit", `{"event":"x","to":{"users":[]}}`, 400, "to.users: must not be empty"},
		{"POST", "emit", `{"event":"x","to":{"users":"A"}}`, 400, "to.users: must be an array of strings"},
		{"POST", "emit", `{"event":"x","to":{"rooms":["r",""]}}`, 400, "to.rooms[1]: must not be empty"},
		{"POST", "emit", `{"event":"x","to":{"all":true},"except":{"all":true}}`, 400, `except: unknown kind "all" (want any of rooms, sockets, users)`},
		{"POST", "emit", `{"event":"x","to":{"all":true},"except":{"users":[1]}}`, 400, "except.users: must be an array of strings"},
		{"POST", "emit", `{"event":"x","to":{"all":true},"data":"` + strings.Repeat("a", 200) + `"}`, 400, "body: over the limit of 200 bytes"},
		{"POST", "emit", `{"event":"x","to":{"all":true},"wait":true,"timeout":0}`, 400, "timeout: must be milliseconds from 1 to 60000, got 0"},
		{"POST", "emit?wait=1", `{"event":"x","to":{"all":true},"timeout":60001}`, 400, "timeout: must be milliseconds from 1 to 60000, got 60001"},
		{"POST", "emit", `{"event":"x","to":{"all":true},"wait":"yes"}`, 400, "wait: must be a boolean, got string"},
		{"POST", "emit", `{"event":"x","to":{"all":true},"timeout":1.5}`, 400, "timeout: must be an integer, got number 1.5"},
		{"POST", "disconnect", `{"to":{"all":true},"reason":5}`, 400, "reason: must be a string, got number"},
		{"POST", "disconnect", `{"to":{"everyone":true}}`, 400, `to: unknown kind "everyone" (want one of all, authenticated, users, rooms, sockets)`},
		{"GET", "emit", ``, 405, "method GET not allowed; use POST"},
		{"PUT", "disconnect", ``, 405, "method PUT not allowed; use POST"},
		{"POST", "nodes", ``, 405, "method POST not allowed; use GET"},
		{"DELETE", "users/A", ``, 405, "method DELETE not allowed; use GET"},
		{"GET", "rooms/r/count?namespace=x", ``, 400, `namespace: must start with /, got "x"`},
		{"GET", "nope", ``, 404, "no such endpoint: /api/v1/nope"},
	} {
		st, out, _ := call(t, tc.method, base+tc.path, key, tc.body)
		if st != tc.status || out["error"] != tc.msg {
			t.Errorf("%s %s %s: %d %q, want %d %q", tc.method, tc.path, tc.body, st, out["error"], tc.status, tc.msg)
		}
	}
	// 503 while the bus is down, for emits and disconnects; nothing is emitted.
	busErr = errors.New("bus: connection refused")
	if st, out, _ := call(t, "POST", base+"emit", key, `{"event":"x","to":{"all":true}}`); st != 503 || out["error"] != "cluster bus is down; nothing was emitted" {
		t.Errorf("emit with the bus down: %d %v", st, out)
	}
	if st, out, _ := call(t, "POST", base+"disconnect", key, `{"to":{"all":true}}`); st != 503 || out["error"] != "cluster bus is down; nobody was disconnected" {
		t.Errorf("disconnect with the bus down: %d %v", st, out)
	}
	busErr = nil
	// Request ids: the caller's is echoed and logged with the namespace and event; a
	// missing one is generated.
	st, _, hdr := call(t, "POST", base+"emit", key, `{"event":"marker","to":{"all":true}}`, "X-Request-Id", "rid-42")
	if st != 202 || hdr.Get("X-Request-Id") != "rid-42" {
		t.Fatalf("request id: %d %q", st, hdr.Get("X-Request-Id"))
	}
	c.conn.Expect(t, `42["marker"]`) // nothing refused above reached the socket
	if _, _, hdr := call(t, "GET", base+"nodes", key, ""); len(hdr.Get("X-Request-Id")) != 32 {
		t.Fatalf("generated request id %q", hdr.Get("X-Request-Id"))
	}
	testclient.WaitFor(t, func() bool {
		return strings.Contains(logs.String(), `msg="api: emit" req=rid-42 nsp=/ event=marker`)
	})
	// A single node lists itself.
	st, out, _ := call(t, "GET", base+"nodes", key, "")
	if nodes, _ := out["nodes"].([]any); st != 200 || len(nodes) != 1 || nodes[0].(map[string]any)["id"] != api.LocalNodeID || nodes[0].(map[string]any)["sockets"] != 1.0 {
		t.Fatalf("nodes: %d %v", st, out)
	}
	// A counted emit on a single node counts this node's sockets.
	if st, out, _ := call(t, "POST", base+"emit?wait=1", key, `{"event":"counted","to":{"users":["A"]}}`); st != 200 || out["sockets"] != 1.0 ||
		out["nodes"] != 1.0 || out["complete"] != true || !jsonEqual(out["perNode"], []any{map[string]any{"node": api.LocalNodeID, "sockets": 1}}) {
		t.Fatalf("counted emit on a single node: %d %v", st, out)
	}
	c.conn.Expect(t, `42["counted"]`)
	if st, out, _ := call(t, "POST", base+"emit", key, `{"event":"counted","to":{"users":["B"]},"wait":true}`); st != 200 || out["sockets"] != 0.0 ||
		out["nodes"] != 0.0 || out["complete"] != true {
		t.Fatalf("counted emit to nobody: %d %v", st, out)
	}
	if st, out, _ := call(t, "GET", base+"users/A", key, ""); st != 200 || out["online"] != true || out["sockets"] != 1.0 ||
		!jsonEqual(out["nodes"], []any{map[string]any{"node": api.LocalNodeID, "sockets": 1}}) {
		t.Fatalf("users/A on a single node: %d %v", st, out)
	}
}

func TestNewValidates(t *testing.T) {
	node, err := herald.New(herald.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  api.Config
		want error
	}{
		{api.Config{IO: node.IO()}, api.ErrNoKeys},
		{api.Config{IO: node.IO(), Keys: []string{"a", ""}}, api.ErrEmptyKey},
		{api.Config{Keys: []string{"a"}}, api.ErrNoServer},
	} {
		if _, err := api.New(tc.cfg); !errors.Is(err, tc.want) {
			t.Errorf("%+v: %v, want %v", tc.cfg, err, tc.want)
		}
	}
	if _, err := herald.New(herald.Config{APIKeys: []string{""}}); !errors.Is(err, api.ErrEmptyKey) {
		t.Errorf("herald.New with an empty key: %v", err)
	}
}

// TestMounting: without keys the routes answer 404 and the log says the API is off;
// with APIAddr the API has its own listener and is absent from the main one.
func TestMounting(t *testing.T) {
	var logs syncBuffer
	_, addr := startNode(t, herald.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if st, out, _ := call(t, "POST", "http://"+addr+"/api/v1/emit", key, `{"event":"x","to":{"all":true}}`); st != 404 || out["error"] != "the HTTP API is disabled (no API key configured)" {
		t.Fatalf("API without keys: %d %v", st, out)
	}
	if !strings.Contains(logs.String(), "HTTP API disabled") {
		t.Fatalf("log does not say the API is disabled:\n%s", logs.String())
	}

	node, addr := startNode(t, herald.Config{APIKeys: []string{key}, APIAddr: "127.0.0.1:0"})
	var apiAddr net.Addr
	testclient.WaitFor(t, func() bool { apiAddr = node.APIListenAddr(); return apiAddr != nil })
	if resp, err := http.Get("http://" + addr + "/api/v1/nodes"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("API on the main listener with APIAddr set: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	if st, out, _ := call(t, "GET", "http://"+apiAddr.String()+"/api/v1/nodes", key, ""); st != 200 {
		t.Fatalf("API on its own listener: %d %v", st, out)
	}
	// Shutdown closes the API listener too.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := node.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + apiAddr.String() + "/api/v1/nodes"); err == nil {
		t.Fatal("API listener still open after Shutdown")
	}
}
