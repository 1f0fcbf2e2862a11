package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/socketio"
)

// 50 connections, each with its own JWT on a node that refuses anonymous ones:
// all connect, all drop, all come back.
func TestStormEndToEnd(t *testing.T) {
	tg := startNode(t, "", true, nil)
	forReadPaths(t, func(t *testing.T, epoll bool) {
		var phases []string
		res, err := RunStorm(context.Background(), StormConfig{
			Epoll: epoll, Targets: []Target{tg}, Conns: 50, Parallel: 10, Timeout: time.Minute, JWTSecret: []byte(testSecret),
			PIDs: []int{os.Getpid()}, // the server is in this process
			Progress: func(p StormProgress) {
				if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
					phases = append(phases, p.Phase)
				}
			},
		})
		if err != nil {
			t.Fatalf("RunStorm: %v (%+v)", err, res)
		}
		checkReader(t, res.ClientReader, epoll)
		if res.Connected != 50 || res.RampFailed != 0 || res.Dropped != 50 || res.Back != 50 || res.StormFailed != 0 ||
			res.Retried != 0 || res.AliveAtEnd != 50 || res.Disconnects != 0 || !res.Authenticated {
			t.Fatalf("connected %d ramp failed %d dropped %d back %d storm failed %d retried %d alive %d disconnects %d; errors %v %v",
				res.Connected, res.RampFailed, res.Dropped, res.Back, res.StormFailed, res.Retried, res.AliveAtEnd,
				res.Disconnects, res.RampErrors, res.StormErrors)
		}
		if h := res.Handshake; h.N != 50 || h.Min <= 0 || h.P50 > h.P99 || h.P99 > h.Max || res.ConnectTime < h.Max {
			t.Errorf("ramp: connect time %v, handshake %+v", res.ConnectTime, h)
		}
		if h := res.StormHandshake; h.N != 50 || h.Min <= 0 || h.P50 > h.P99 || h.P99 > h.Max {
			t.Errorf("storm handshake %+v", h)
		}
		if b := res.BackAfter; b.N != 50 || b.Max != res.StormTime || res.StormWindow < res.StormTime+res.DropTime {
			t.Errorf("back after %+v, storm time %v, window %v", b, res.StormTime, res.StormWindow)
		}
		if len(res.ServerCPU) != 1 || res.ServerCPU[0].PID != os.Getpid() {
			t.Errorf("server CPU %+v", res.ServerCPU)
		}
		if got := strings.Join(phases, ","); got != "ramp,drop,storm,done" {
			t.Errorf("progress phases %s", got)
		}
		var table bytes.Buffer
		if err := WriteStormTable(&table, res); err != nil || !strings.Contains(table.String(), "50/50 back") ||
			!strings.Contains(table.String(), "50/50 connections with 10 in parallel") {
			t.Errorf("table (%v):\n%s", err, table.String())
		}
	})
}

// Without a token, a node that requires one refuses every connection.
func TestStormNeedsToken(t *testing.T) {
	tg := startNode(t, "", true, nil)
	forReadPaths(t, func(t *testing.T, epoll bool) {
		res, err := RunStorm(context.Background(), StormConfig{Epoll: epoll, Targets: []Target{tg}, Conns: 5, Parallel: 5, Timeout: time.Minute})
		if err == nil || res == nil || res.Connected != 0 || res.RampFailed != 5 {
			t.Fatalf("RunStorm = %+v, %v; want every connection refused", res, err)
		}
		for msg, n := range res.RampErrors {
			if n != 5 || !strings.Contains(msg, "unauthorized") {
				t.Errorf("ramp error %dx %q", n, msg)
			}
		}
	})
}

// A namespace that refuses the first 5 connection attempts after the ramp: with
// retries every connection comes back, without them 5 stay out.
func TestStormRetries(t *testing.T) {
	forReadPaths(t, func(t *testing.T, epoll bool) {
		for _, tc := range []struct {
			retries, back, failed, retried int
		}{
			// Attempts 31–35 (the storm's first five) are refused. With 5 retries every
			// connection gets back however the refusals fall (one connection may draw all
			// five: with 3 retries it would fail, so the counts would depend on timing).
			{5, 30, 0, 5},
			// Without retries, five different connections stay out.
			{0, 25, 5, 0},
		} {
			var attempts atomic.Int64
			tg := startNode(t, "", false, func(n *herald.Node) {
				n.IO().Of("/flaky").Use(func(*socketio.Socket) error {
					if k := attempts.Add(1); k > 30 && k <= 35 {
						return &socketio.ConnectError{Message: "try again"}
					}
					return nil
				})
			})
			res, err := RunStorm(context.Background(), StormConfig{
				Epoll: epoll, Targets: []Target{tg}, Namespace: "/flaky", Conns: 30, Parallel: 6, Retries: tc.retries, Timeout: time.Minute,
			})
			if err != nil {
				t.Fatalf("retries %d: RunStorm: %v", tc.retries, err)
			}
			if res.Connected != 30 || res.Back != tc.back || res.StormFailed != tc.failed || res.Retried != tc.retried ||
				res.AliveAtEnd != tc.back {
				t.Errorf("retries %d: connected %d back %d failed %d retried %d alive %d; want back %d failed %d retried %d",
					tc.retries, res.Connected, res.Back, res.StormFailed, res.Retried, res.AliveAtEnd, tc.back, tc.failed, tc.retried)
			}
			if n := res.StormErrors[`CONNECT_ERROR {"message":"try again"}`]; n != 5 {
				t.Errorf("retries %d: storm errors %v, want 5x try again", tc.retries, res.StormErrors)
			}
		}
	})
}

func TestStormCommandJSON(t *testing.T) {
	tg := startHerald(t, nil)
	forReadPaths(t, func(t *testing.T, epoll bool) {
		var got struct {
			Scenario       string          `json:"scenario"`
			Reader         string          `json:"client_reader"`
			Connected      int             `json:"connected"`
			Back           int             `json:"back"`
			StormFailed    int             `json:"storm_failed"`
			Handshake      struct{ N int } `json:"handshake_ms"`
			StormHandshake struct{ N int } `json:"storm_handshake_ms"`
			ServerCPU      []any           `json:"server_cpu"`
		}
		runJSON(t, []string{"connect-storm", epollFlag(epoll), "-url", tg.Base, "-c", "20", "-parallel", "5"}, &got)
		if got.Scenario != "connect-storm" || got.Reader != readPathName(epoll) || got.Connected != 20 || got.Back != 20 || got.StormFailed != 0 ||
			got.Handshake.N != 20 || got.StormHandshake.N != 20 || got.ServerCPU == nil {
			t.Errorf("JSON result %+v", got)
		}
	})
}

func TestStormCommandRefuses(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-url", "http://10.0.0.1:3000"}, "refusing"},
		{[]string{"-c", "0"}, "-c must be"},
		{[]string{"-c", "1000000"}, "-c must be"},
		{[]string{"-parallel", "0"}, "-parallel"},
		{[]string{"-retries", "-1"}, "-retries"},
		{[]string{"-pids", "x"}, "bad pid"},
		{[]string{"stray"}, "unexpected"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"connect-storm"}, tt.args...), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tt.want) || out.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 mentioning %q", tt.args, code, out.String(), errb.String(), tt.want)
		}
	}
}
