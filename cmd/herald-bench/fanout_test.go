package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/apps/bench"
	"github.com/heraldhq/herald/plainws"
	"github.com/heraldhq/herald/socketio"
)

// startHerald runs an in-process Herald Socket.IO server with the bench
// namespace; setup, when set, may register more.
func startHerald(t *testing.T, setup func(*socketio.Server)) Target {
	t.Helper()
	srv, err := socketio.New(socketio.Config{})
	if err != nil {
		t.Fatal(err)
	}
	bench.Register(srv)
	if setup != nil {
		setup(srv)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		_ = srv.Close()
		ts.Close()
	})
	tg, err := ParseTarget(ts.URL, "/socket.io/")
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestFanoutEndToEnd(t *testing.T) {
	tg := startHerald(t, nil)
	forReadPaths(t, func(t *testing.T, epoll bool) {
		var progress []FanoutProgress
		res, err := RunFanout(context.Background(), FanoutConfig{
			Epoll: epoll, Targets: []Target{tg}, Subscribers: 20, Parallel: 8, Room: "fanout",
			Rate: 50, Duration: time.Second, PayloadBytes: 100,
			Drain: 5 * time.Second, Timeout: time.Minute,
			PIDs:          []int{os.Getpid()}, // the server is in this process
			Progress:      func(p FanoutProgress) { progress = append(progress, p) },
			ProgressEvery: 100 * time.Millisecond,
		})
		if err != nil {
			t.Fatalf("RunFanout: %v (%+v)", err, res)
		}
		checkReader(t, res.ClientReader, epoll)
		if res.Joined != 20 || res.Sent != 50 || res.Planned != 50 {
			t.Fatalf("joined %d sent %d planned %d", res.Joined, res.Sent, res.Planned)
		}
		if res.Expected != 1000 || res.Delivered != res.Expected || res.Lost != 0 || res.Duplicates != 0 ||
			res.Reordered != 0 || res.BadEvents != 0 || !res.Drained || res.Disconnects != 0 {
			t.Fatalf("delivered %d/%d lost %d dups %d reordered %d bad %d drained %v disconnects %d",
				res.Delivered, res.Expected, res.Lost, res.Duplicates, res.Reordered, res.BadEvents, res.Drained, res.Disconnects)
		}
		if res.PayloadBytes != 100 {
			t.Errorf("payload %d bytes, want 100", res.PayloadBytes)
		}
		// Paced: 50 messages at 50/s take about 980 ms, not a burst.
		if res.PublishTime < 900*time.Millisecond || res.PublishTime > 3*time.Second {
			t.Errorf("publish took %v, want about 980ms", res.PublishTime)
		}
		l := res.Latency
		if l.N != 1000 || l.Min <= 0 || l.P50 > l.P99 || l.P99 > l.Max || l.Max > 5*time.Second {
			t.Errorf("latency %+v", l)
		}
		if len(res.ServerCPU) != 1 || res.ServerCPU[0].TotalSec < 0 || res.ClientCPU.TotalSec <= 0 || res.Window < res.PublishTime {
			t.Errorf("cpu %+v client %+v window %v", res.ServerCPU, res.ClientCPU, res.Window)
		}
		if len(res.Errors) != 0 {
			t.Errorf("errors %v", res.Errors)
		}
		phases := map[string]bool{}
		for _, p := range progress {
			phases[p.Phase] = true
		}
		if !phases["connect"] || !phases["publish"] || !phases["done"] {
			t.Errorf("progress phases %v", phases)
		}
		if last := progress[len(progress)-1]; last.Phase != "done" || last.Delivered != 1000 || last.Expected != 1000 {
			t.Errorf("last progress %+v", last)
		}
		var table bytes.Buffer
		if err := WriteFanoutTable(&table, res); err != nil || !strings.Contains(table.String(), "1000/1000") {
			t.Errorf("table (%v):\n%s", err, table.String())
		}
	})
}

// Broadcasting to the whole namespace (no room): the publishers receive their
// own messages too, and those must not count.
func TestFanoutWholeNamespace(t *testing.T) {
	tg := startHerald(t, nil)
	forReadPaths(t, func(t *testing.T, epoll bool) {
		res, err := RunFanout(context.Background(), FanoutConfig{
			Epoll: epoll, Targets: []Target{tg}, Subscribers: 5, Publishers: 2, Parallel: 5, Room: "",
			Rate: 100, Duration: 200 * time.Millisecond, Drain: 5 * time.Second, Timeout: time.Minute,
		})
		if err != nil {
			t.Fatalf("RunFanout: %v", err)
		}
		if res.Expected != 5*20 || res.Delivered != res.Expected || res.Duplicates != 0 || res.BadEvents != 0 || !res.Drained {
			t.Fatalf("delivered %d/%d dups %d bad %d drained %v", res.Delivered, res.Expected, res.Duplicates, res.BadEvents, res.Drained)
		}
	})
}

// A server that loses and repeats messages: a namespace whose broadcast
// handler drops seq 3 and sends seq 5 twice.
func TestFanoutCountsLossAndDuplicates(t *testing.T) {
	forReadPaths(t, func(t *testing.T, epoll bool) {
		tg := startHerald(t, func(srv *socketio.Server) {
			nsp := srv.Of("/lossy")
			nsp.On("join", func(s *socketio.Socket, ev *socketio.Event) {
				room, _ := ev.String(0)
				s.Join(room)
				_ = ev.Ack("ok")
			})
			nsp.On("broadcast", func(_ *socketio.Socket, ev *socketio.Event) {
				var p struct{ Seq int }
				_ = ev.Decode(1, &p)
				room, _ := ev.String(0)
				payload := socketio.Args{Raw: ev.Raw[1:2]}
				switch p.Seq {
				case 3:
				case 5:
					_ = nsp.To(room).Emit("bench", payload)
					_ = nsp.To(room).Emit("bench", payload)
				default:
					_ = nsp.To(room).Emit("bench", payload)
				}
				_ = nsp.To(room).Emit("other", 1) // not a bench event: bad, not counted
			})
		})
		res, err := RunFanout(context.Background(), FanoutConfig{
			Epoll: epoll, Targets: []Target{tg}, Namespace: "/lossy", Subscribers: 4, Parallel: 4, Room: "r",
			Rate: 200, Duration: 50 * time.Millisecond, Drain: 300 * time.Millisecond, Timeout: time.Minute,
		})
		if err != nil {
			t.Fatalf("RunFanout: %v", err)
		}
		if res.Sent != 10 || res.Expected != 40 || res.Delivered != 36 || res.Lost != 4 || res.Duplicates != 4 ||
			res.BadEvents != 40 || res.Drained {
			t.Fatalf("sent %d expected %d delivered %d lost %d dups %d bad %d drained %v",
				res.Sent, res.Expected, res.Delivered, res.Lost, res.Duplicates, res.BadEvents, res.Drained)
		}
		if res.DrainWait < 300*time.Millisecond {
			t.Errorf("drain gave up after %v, want the full 300ms", res.DrainWait)
		}
	})
}

func TestFanoutJoinRefused(t *testing.T) {
	forReadPaths(t, func(t *testing.T, epoll bool) {
		tg := startHerald(t, func(srv *socketio.Server) {
			srv.Of("/nojoin").On("join", func(_ *socketio.Socket, ev *socketio.Event) { _ = ev.Ack("no") })
		})
		res, err := RunFanout(context.Background(), FanoutConfig{
			Epoll: epoll, Targets: []Target{tg}, Namespace: "/nojoin", Subscribers: 3, Parallel: 3, Room: "r",
			Rate: 10, Duration: time.Second, Timeout: time.Minute,
		})
		if err == nil || res == nil || res.Joined != 0 {
			t.Fatalf("RunFanout = %+v, %v; want a failure with nobody joined", res, err)
		}
		for msg, n := range res.Errors {
			if n != 3 || !strings.Contains(msg, `unexpected ack ["no"]`) {
				t.Errorf("error %dx %q", n, msg)
			}
		}
	})
}

func TestFanoutCommandJSON(t *testing.T) {
	tg := startHerald(t, nil)
	forReadPaths(t, func(t *testing.T, epoll bool) {
		var got struct {
			Scenario     string  `json:"scenario"`
			Reader       string  `json:"client_reader"`
			Joined       int     `json:"joined"`
			Expected     int64   `json:"expected"`
			Delivered    int64   `json:"delivered"`
			PayloadBytes int     `json:"payload_bytes"`
			Rate         float64 `json:"rate_per_s"`
			Latency      struct {
				N   int     `json:"n"`
				P99 float64 `json:"p99"`
			} `json:"latency_ms"`
			ServerCPU []any `json:"server_cpu"`
		}
		runJSON(t, []string{"fanout", epollFlag(epoll), "-url", tg.Base, "-c", "3", "-rate", "100",
			"-duration", "100ms", "-payload", "200", "-pids", ""}, &got)
		if got.Scenario != "fanout" || got.Reader != readPathName(epoll) || got.Joined != 3 || got.Expected != 30 || got.Delivered != 30 ||
			got.PayloadBytes != 200 || got.Rate != 100 || got.Latency.N != 30 || got.Latency.P99 <= 0 || got.ServerCPU == nil {
			t.Errorf("JSON result %+v", got)
		}
	})
}

func TestFanoutCommandRefuses(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-url", "http://10.0.0.1:3000"}, "refusing"},
		{[]string{"-url", "http://127.0.0.1:1,http://192.168.1.1:2"}, "refusing"},
		{[]string{"-c", "0"}, "-c must be"},
		{[]string{"-rate", "0"}, "-rate and -duration"},
		{[]string{"-rate", "1e9", "-duration", "1h"}, "messages; want"},
		{[]string{"-c", "100000", "-rate", "100000", "-duration", "100s", "-timeout", "1h"}, "MiB"},
		{[]string{"-duration", "10s", "-drain", "5s", "-timeout", "12s"}, "-timeout"},
		{[]string{"-publishers", "0"}, "-publishers"},
		{[]string{"-pids", "1,x"}, "bad pid"},
		{[]string{"stray"}, "unexpected"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"fanout"}, tt.args...), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tt.want) || out.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 mentioning %q", tt.args, code, out.String(), errb.String(), tt.want)
		}
	}
}

func TestErrorKind(t *testing.T) {
	for in, want := range map[string]string{
		"websocket: read tcp 127.0.0.1:36838->127.0.0.1:3200: i/o timeout": "websocket: read tcp 127.0.0.1:3200: i/o timeout",
		"dial tcp [::1]:5555->[::1]:3000: refused":                         "dial tcp [::1]:3000: refused",
		"join: unexpected ack [\"no\"]":                                    "join: unexpected ack [\"no\"]",
	} {
		if got := errorKind(errors.New(in)); got != want {
			t.Errorf("errorKind(%q) = %q, want %q", in, got, want)
		}
	}
}

// With two targets, delivery and latency are also split by target. The two servers
// here are not clustered: only the publisher's (the first) delivers.
func TestFanoutPerTarget(t *testing.T) {
	a, b := startHerald(t, nil), startHerald(t, nil)
	forReadPaths(t, func(t *testing.T, epoll bool) {
		res, err := RunFanout(context.Background(), FanoutConfig{
			Epoll: epoll, Targets: []Target{a, b}, Subscribers: 5, Parallel: 4, Room: "fanout",
			Rate: 50, Duration: 200 * time.Millisecond, PayloadBytes: 50,
			Drain: 300 * time.Millisecond, Timeout: time.Minute,
		})
		if err != nil {
			t.Fatalf("RunFanout: %v", err)
		}
		if len(res.PerTarget) != 2 {
			t.Fatalf("per target %+v", res.PerTarget)
		}
		pa, pb := res.PerTarget[0], res.PerTarget[1]
		if pa.Target != a.Base || pa.Joined != 3 || pa.Expected != 30 || pa.Delivered != 30 || pa.Latency.N != 30 {
			t.Errorf("first target %+v", pa)
		}
		if pb.Target != b.Base || pb.Joined != 2 || pb.Expected != 20 || pb.Delivered != 0 || pb.Latency.N != 0 {
			t.Errorf("second target %+v", pb)
		}
		if res.Delivered != 30 || res.Lost != 20 || res.Drained {
			t.Errorf("delivered %d lost %d drained %v", res.Delivered, res.Lost, res.Drained)
		}
		var js strings.Builder
		if err := WriteFanoutJSON(&js, res); err != nil || !strings.Contains(js.String(), `"per_target"`) {
			t.Errorf("json %v:\n%s", err, js.String())
		}
	})
}

// TestFanoutPlain: subscribers on the plain WebSocket endpoint (the bench
// namespace served there too) get every message exactly once, in order, from a
// Socket.IO publisher.
func TestFanoutPlain(t *testing.T) {
	forReadPaths(t, func(t *testing.T, epoll bool) {
		srv, err := socketio.New(socketio.Config{})
		if err != nil {
			t.Fatal(err)
		}
		bench.Register(srv)
		plain, err := plainws.New(srv, plainws.Config{Namespace: "/bench"})
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle("/socket.io/", srv)
		mux.Handle("/ws", plain)
		ts := httptest.NewServer(mux)
		t.Cleanup(func() {
			_ = plain.Shutdown(context.Background())
			_ = srv.Close()
			ts.Close()
		})
		tg, err := ParseTarget(ts.URL, "/socket.io/")
		if err != nil {
			t.Fatal(err)
		}
		res, err := RunFanout(context.Background(), FanoutConfig{
			Epoll: epoll, Targets: []Target{tg}, Subscribers: 10, Parallel: 5, Room: "fanout", Plain: true,
			Rate: 100, Duration: 300 * time.Millisecond, Drain: 5 * time.Second, Timeout: time.Minute,
		})
		if err != nil {
			t.Fatalf("RunFanout: %v (%+v)", err, res)
		}
		checkReader(t, res.ClientReader, epoll)
		if !res.Plain || res.Joined != 10 || res.Expected != 10*30 || res.Delivered != res.Expected || res.Duplicates != 0 ||
			res.Reordered != 0 || res.BadEvents != 0 || !res.Drained {
			t.Fatalf("plain %v joined %d delivered %d/%d dups %d reordered %d bad %d drained %v",
				res.Plain, res.Joined, res.Delivered, res.Expected, res.Duplicates, res.Reordered, res.BadEvents, res.Drained)
		}
	})
}
