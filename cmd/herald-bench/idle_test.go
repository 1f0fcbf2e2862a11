package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"
)

// stubServer is a tiny Socket.IO server: it sends the Engine.IO open packet,
// and answers CONNECT to "/" with a ping, two events (one on another
// namespace, which must not be counted) and then the CONNECT ack. CONNECT to
// "/silent" is never answered; any other namespace gets a CONNECT_ERROR.
type stubServer struct {
	srv      *httptest.Server
	upgrader *gws.Upgrader
	readers  sync.WaitGroup // one per upgraded connection
	opens    atomic.Int64
	connects atomic.Int64
	pongs    atomic.Int64
	sids     atomic.Int64
}

func newStubServer(t *testing.T) *stubServer {
	t.Helper()
	s := &stubServer{}
	s.upgrader = gws.NewUpgrader(s, &gws.ServerOption{})
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/socket.io/" || r.URL.Query().Get("EIO") != "4" || r.URL.Query().Get("transport") != "websocket" {
			http.Error(w, "bad engine.io request", http.StatusBadRequest)
			return
		}
		socket, err := s.upgrader.Upgrade(w, r)
		if err != nil {
			return
		}
		s.readers.Add(1)
		go func() {
			defer s.readers.Done()
			socket.ReadLoop()
		}()
	}))
	return s
}

// stop waits until every server-side connection has seen its close (the
// client closes them all before RunIdle returns), then stops the listener.
func (s *stubServer) stop() {
	s.readers.Wait()
	s.srv.Close()
}

func (s *stubServer) OnOpen(socket *gws.Conn) {
	s.opens.Add(1)
	_ = socket.WriteString(`0{"sid":"eio","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`)
}
func (s *stubServer) OnClose(*gws.Conn, error) {}
func (s *stubServer) OnPing(*gws.Conn, []byte) {}
func (s *stubServer) OnPong(*gws.Conn, []byte) {}
func (s *stubServer) OnMessage(socket *gws.Conn, msg *gws.Message) {
	defer msg.Close()
	switch text := msg.Data.String(); {
	case text == "40":
		s.connects.Add(1)
		// Frames on one connection arrive in order, so by the time the client
		// has the ack it has answered the ping and counted the event.
		_ = socket.WriteString("2")
		_ = socket.WriteString(`42["bench",{"n":1}]`)
		_ = socket.WriteString(`42/other,["not counted"]`)
		_ = socket.WriteString(fmt.Sprintf(`40{"sid":"s%d"}`, s.sids.Add(1)))
	case text == "40/silent,":
		// never answered: the client's handshake timeout must fire
	case strings.HasPrefix(text, "40/"):
		nsp := strings.TrimSuffix(text[2:], ",")
		_ = socket.WriteString(`44` + nsp + `,{"message":"Invalid namespace"}`)
	case text == "3":
		s.pongs.Add(1)
	}
}

func stubTarget(t *testing.T, s *stubServer) Target {
	t.Helper()
	tg, err := ParseTarget(s.srv.URL, "/socket.io/")
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestIdleEndToEnd(t *testing.T) {
	forReadPaths(t, func(t *testing.T, epoll bool) {
		s := newStubServer(t)
		const C = 50
		res, err := RunIdle(context.Background(), IdleConfig{
			Targets:  []Target{stubTarget(t, s)},
			Conns:    C,
			Parallel: 8,
			Timeout:  30 * time.Second,
			PIDs:     []int{os.Getpid()}, // exercise RSS sampling on ourselves
			Epoll:    epoll,
		})
		s.stop()
		if err != nil {
			t.Fatalf("RunIdle: %v", err)
		}
		checkReader(t, res.ClientReader, epoll)
		if res.Connected != C || res.Failures != 0 || len(res.Errors) != 0 {
			t.Fatalf("connected %d failures %d errors %v; want %d, 0", res.Connected, res.Failures, res.Errors, C)
		}
		if res.AliveAtEnd != C || res.Disconnects != 0 {
			t.Errorf("alive at end %d, disconnects %d; want %d, 0", res.AliveAtEnd, res.Disconnects, C)
		}
		if res.Events != C || res.Pings != C {
			t.Errorf("events %d pings %d; want %d each", res.Events, res.Pings, C)
		}
		if got := s.opens.Load(); got != C {
			t.Errorf("server saw %d websocket opens, want %d", got, C)
		}
		if got := s.connects.Load(); got != C {
			t.Errorf("server saw %d CONNECTs, want %d", got, C)
		}
		if got := s.pongs.Load(); got != C {
			t.Errorf("server saw %d pongs, want %d", got, C)
		}
		h := res.Handshake
		if h.N != C || h.Min <= 0 || h.P50 > h.P99 || h.P99 > h.Max || res.ConnectTime < h.Max {
			t.Errorf("implausible timings: connect %v, handshake %+v", res.ConnectTime, h)
		}
		if len(res.RSS) != 1 || res.RSS[0].BeforeKB <= 0 || res.RSS[0].AfterKB <= 0 || res.RSS[0].EndKB <= 0 {
			t.Errorf("RSS samples missing: %+v", res.RSS)
		}
		var table bytes.Buffer
		if err := WriteIdleTable(&table, res); err != nil || !strings.Contains(table.String(), "50/50") {
			t.Errorf("table (%v):\n%s", err, table.String())
		}
	})
}

func TestIdleRoundRobin(t *testing.T) {
	forReadPaths(t, func(t *testing.T, epoll bool) {
		a, b := newStubServer(t), newStubServer(t)
		res, err := RunIdle(context.Background(), IdleConfig{
			Epoll: epoll, Targets: []Target{stubTarget(t, a), stubTarget(t, b)},
			Conns: 7, Parallel: 3, Timeout: 30 * time.Second,
		})
		a.stop()
		b.stop()
		if err != nil || res.Connected != 7 {
			t.Fatalf("RunIdle: %v, %+v", err, res)
		}
		if a.connects.Load() != 4 || b.connects.Load() != 3 {
			t.Errorf("split %d/%d, want 4/3", a.connects.Load(), b.connects.Load())
		}
	})
}

func TestIdleConnectError(t *testing.T) {
	forReadPaths(t, func(t *testing.T, epoll bool) {
		s := newStubServer(t)
		res, err := RunIdle(context.Background(), IdleConfig{
			Epoll: epoll, Targets: []Target{stubTarget(t, s)}, Namespace: "/nope",
			Conns: 5, Parallel: 2, Hold: time.Hour, Settle: time.Hour, Timeout: 30 * time.Second,
		})
		s.stop()
		if err != nil {
			t.Fatalf("RunIdle: %v", err)
		}
		if res.Connected != 0 || res.Failures != 5 {
			t.Fatalf("connected %d failures %d, want 0, 5", res.Connected, res.Failures)
		}
		if len(res.Errors) != 1 {
			t.Fatalf("errors %v, want one kind", res.Errors)
		}
		for msg, n := range res.Errors {
			if n != 5 || !strings.Contains(msg, "CONNECT_ERROR") || !strings.Contains(msg, "Invalid namespace") {
				t.Errorf("error %dx %q", n, msg)
			}
		}
	})
}

func TestIdleHandshakeTimeout(t *testing.T) {
	forReadPaths(t, func(t *testing.T, epoll bool) {
		s := newStubServer(t)
		res, err := RunIdle(context.Background(), IdleConfig{
			Epoll: epoll, Targets: []Target{stubTarget(t, s)}, Namespace: "/silent",
			Conns: 4, Parallel: 4, HandshakeTimeout: 100 * time.Millisecond, Timeout: 30 * time.Second,
		})
		s.stop()
		if err != nil {
			t.Fatalf("RunIdle: %v", err)
		}
		if res.Connected != 0 || res.Failures != 4 || res.TimedOut {
			t.Fatalf("connected %d failures %d timedOut %v, want 0, 4, false", res.Connected, res.Failures, res.TimedOut)
		}
		for msg := range res.Errors {
			if !strings.Contains(msg, "deadline exceeded") {
				t.Errorf("error %q, want a handshake deadline", msg)
			}
		}
	})
}

func TestIdleOverallTimeout(t *testing.T) {
	forReadPaths(t, func(t *testing.T, epoll bool) {
		s := newStubServer(t)
		res, err := RunIdle(context.Background(), IdleConfig{
			Epoll: epoll, Targets: []Target{stubTarget(t, s)}, Namespace: "/silent",
			Conns: 20, Parallel: 2, HandshakeTimeout: time.Minute, Timeout: 150 * time.Millisecond,
		})
		s.stop()
		if err == nil || res == nil || !res.TimedOut {
			t.Fatalf("RunIdle = %+v, %v; want a timed-out partial result", res, err)
		}
		if res.Connected != 0 || res.Failures != 20 {
			t.Errorf("connected %d failures %d, want 0, 20 (undialed count as failed)", res.Connected, res.Failures)
		}
	})
}

func TestIdleCommandJSON(t *testing.T) {
	forReadPaths(t, func(t *testing.T, epoll bool) {
		s := newStubServer(t)
		var got struct {
			Scenario  string          `json:"scenario"`
			Reader    string          `json:"client_reader"`
			Connected int             `json:"connected"`
			Failures  int             `json:"failures"`
			Events    int             `json:"events"`
			Handshake struct{ N int } `json:"handshake_ms"`
			ServerRSS []any           `json:"server_rss"`
		}
		runJSON(t, []string{"idle", epollFlag(epoll), "-url", s.srv.URL, "-c", "10", "-parallel", "4",
			"-hold", "0", "-settle", "0"}, &got)
		s.stop()
		if got.Scenario != "idle" || got.Reader != readPathName(epoll) || got.Connected != 10 || got.Failures != 0 || got.Events != 10 || got.Handshake.N != 10 || got.ServerRSS == nil {
			t.Errorf("JSON result %+v", got)
		}
	})
}

func TestIdleCommandRefusesNonLoopback(t *testing.T) {
	for _, u := range []string{"http://192.168.0.10:3000", "http://127.0.0.1:3000,http://10.1.2.3:3000", "http://example.com"} {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"idle", "-url", u, "-c", "1"}, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), "refusing") || out.Len() != 0 {
			t.Errorf("-url %s: exit %d, stdout %q, stderr %q; want exit 2 and a refusal", u, code, out.String(), errb.String())
		}
	}
}

func TestIdleCommandUsage(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), nil, &out, &errb); code != 2 {
		t.Errorf("no args: exit %d", code)
	}
	if code := run(context.Background(), []string{"nope"}, &out, &errb); code != 2 {
		t.Errorf("unknown scenario: exit %d", code)
	}
	if code := run(context.Background(), []string{"idle", "-c", "0"}, &out, &errb); code != 2 {
		t.Errorf("-c 0: exit %d", code)
	}
	if code := run(context.Background(), []string{"idle", "-pids", "12,x"}, &out, &errb); code != 2 {
		t.Errorf("bad -pids: exit %d", code)
	}
}
