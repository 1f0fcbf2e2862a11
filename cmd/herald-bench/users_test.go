package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald"
	"github.com/heraldhq/herald/apps/bench"
	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/testredis"
	"github.com/heraldhq/herald/socketio"
)

// The secret and the API key of the in-process nodes.
const (
	testSecret = "herald-bench-test-secret-0123456789abcdef"
	testAPIKey = "bench-api-key"
)

// startNode runs an in-process Herald node with the bench namespace, JWT auth
// (testSecret) and the HTTP API (testAPIKey); redisURL, when set, joins it to
// a cluster. setup, when set, may register more on the node.
func startNode(t *testing.T, redisURL string, requireAuth bool, setup func(*herald.Node)) Target {
	t.Helper()
	node, err := herald.New(herald.Config{
		Auth:        auth.Config{JWT: auth.JWTConfig{Secret: []byte(testSecret)}},
		RequireAuth: requireAuth,
		APIKeys:     []string{testAPIKey},
		RedisURL:    redisURL,
	})
	if err != nil {
		t.Fatal(err)
	}
	bench.Register(node.IO())
	if setup != nil {
		setup(node)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- node.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = node.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	tg, err := ParseTarget("http://"+ln.Addr().String(), "/socket.io/")
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// Two nodes over a private Redis; 3 users × 2 devices, each user's devices on
// both nodes; 20 messages through each publish path. Every device gets exactly
// its own user's messages.
func TestUsersPublishPaths(t *testing.T) {
	redis := testredis.Start(t)
	a := startNode(t, redis.Addr, false, nil)
	b := startNode(t, redis.Addr, false, nil)
	forReadPaths(t, func(t *testing.T, epoll bool) {
		for _, path := range []string{PublishClient, PublishAPI, PublishEmitter, PublishAPI + "-wait"} {
			t.Run(path, func(t *testing.T) {
				var progress []FanoutProgress
				pc := PublishConfig{Path: path, APIKey: testAPIKey}
				if path == PublishAPI+"-wait" {
					pc.Path, pc.APIWait = PublishAPI, true
				}
				res, err := RunUsers(context.Background(), UsersConfig{
					Epoll: epoll, Targets: []Target{a, b}, Users: 3, Devices: 2, Parallel: 4,
					Publish: pc, Publishers: 2,
					Rate: 100, Duration: 200 * time.Millisecond, PayloadBytes: 80,
					Drain: 10 * time.Second, Timeout: time.Minute, JWTSecret: []byte(testSecret), Seed: 7,
					RedisAddr: redis.Addr, Progress: func(p FanoutProgress) { progress = append(progress, p) },
					ProgressEvery: 50 * time.Millisecond,
				})
				if err != nil {
					t.Fatalf("RunUsers: %v (%+v)", err, res)
				}
				checkReader(t, res.ClientReader, epoll)
				if res.Connected != 6 || res.Planned != 20 || res.Sent != 20 || res.SendErrors != 0 || res.Publish != pc.Path {
					t.Fatalf("connected %d planned %d sent %d send errors %d path %q",
						res.Connected, res.Planned, res.Sent, res.SendErrors, res.Publish)
				}
				// Each message goes to one user, who has 2 connected devices.
				if res.Expected != 40 || res.Delivered != 40 || res.Lost != 0 || res.Duplicates != 0 ||
					res.WrongUser != 0 || res.BadEvents != 0 || res.DevicesComplete != 6 || !res.Drained {
					t.Fatalf("expected %d delivered %d lost %d dups %d wrong %d bad %d complete %d drained %v; errors %v",
						res.Expected, res.Delivered, res.Lost, res.Duplicates, res.WrongUser, res.BadEvents,
						res.DevicesComplete, res.Drained, res.Errors)
				}
				if len(res.PerTarget) != 2 || res.PerTarget[0].Joined != 3 || res.PerTarget[1].Joined != 3 ||
					res.PerTarget[0].Delivered != 20 || res.PerTarget[1].Delivered != 20 {
					t.Errorf("per target %+v", res.PerTarget)
				}
				if l := res.Latency; l.N != 40 || l.Min < 0 || l.P50 > l.P99 || l.P99 > l.Max {
					t.Errorf("latency %+v", l)
				}
				if res.Redis == nil || res.Redis.Calls["publish"] < 20 {
					t.Errorf("redis usage %+v", res.Redis)
				}
				if len(res.Errors) != 0 {
					t.Errorf("errors %v", res.Errors)
				}
				switch {
				case pc.Path != PublishAPI:
					if res.API != nil {
						t.Errorf("api stats on the %s path: %+v", path, res.API)
					}
				case res.API == nil || res.API.Answer.N != 20 || res.API.Answer.P50 > res.API.Answer.Max || res.API.Incomplete != 0:
					t.Errorf("api stats %+v", res.API)
				case pc.APIWait && res.API.Counted != 40, !pc.APIWait && res.API.Counted != 0:
					// Every answer counts the 2 devices of its user, on either node.
					t.Errorf("the wait answers counted %d sockets, want 40 (wait %v)", res.API.Counted, pc.APIWait)
				}
				if last := progress[len(progress)-1]; last.Phase != "done" || last.Delivered != 40 || last.Expected != 40 || last.WrongUser != 0 {
					t.Errorf("last progress %+v", last)
				}
			})
		}
	})
}

// A single node without Redis; the command line, its table and its JSON.
func TestUsersCommand(t *testing.T) {
	tg := startNode(t, "", true, nil)
	forReadPaths(t, func(t *testing.T, epoll bool) {
		t.Setenv("HERALD_BENCH_JWT_SECRET", testSecret)
		t.Setenv("HERALD_BENCH_API_KEY", testAPIKey)
		var got struct {
			Scenario        string `json:"scenario"`
			Reader          string `json:"client_reader"`
			Publish         string `json:"publish"`
			Connected       int    `json:"connected"`
			Sent            int64  `json:"sent"`
			Expected        int64  `json:"expected"`
			Delivered       int64  `json:"delivered"`
			WrongUser       int64  `json:"wrong_user"`
			DevicesComplete int    `json:"devices_complete"`
			Latency         struct {
				N int `json:"n"`
			} `json:"latency_ms"`
		}
		runJSON(t, []string{"users", epollFlag(epoll), "-url", tg.Base, "-users", "3", "-devices", "2",
			"-rate", "100", "-duration", "200ms", "-publish", "api"}, &got)
		if got.Scenario != "users" || got.Reader != readPathName(epoll) || got.Publish != "api" || got.Connected != 6 || got.Sent != 20 || got.Expected != 40 ||
			got.Delivered != 40 || got.WrongUser != 0 || got.DevicesComplete != 6 || got.Latency.N != 40 {
			t.Errorf("JSON result %+v", got)
		}

		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"users", epollFlag(epoll), "-url", tg.Base, "-users", "2", "-devices", "1",
			"-rate", "50", "-duration", "100ms"}, &out, &errb)
		if code != 0 || !strings.Contains(out.String(), "5/5 (100.000%)") || !strings.Contains(out.String(), "wrong user") {
			t.Errorf("table: exit %d, stderr %s\n%s", code, errb.String(), out.String())
		}
	})
}

// A server that sends every message to the wrong user: the run reports each
// delivery as wrong-user, fails, and counts the right devices' messages lost.
func TestUsersDetectsWrongUser(t *testing.T) {
	forReadPaths(t, func(t *testing.T, epoll bool) {
		tg := startNode(t, "", false, func(n *herald.Node) {
			nsp := n.IO().Of("/misroute")
			nsp.On("broadcast", func(_ *socketio.Socket, ev *socketio.Event) {
				room, _ := ev.String(0)
				wrong := "user:u0"
				if room == wrong {
					wrong = "user:u1"
				}
				_ = nsp.To(wrong).Emit("bench", socketio.Args{Raw: ev.Raw[1:2]})
			})
		})
		res, err := RunUsers(context.Background(), UsersConfig{
			Epoll: epoll, Targets: []Target{tg}, Namespace: "/misroute", Users: 3, Devices: 2, Parallel: 6,
			Rate: 100, Duration: 100 * time.Millisecond, Drain: 300 * time.Millisecond, Timeout: time.Minute,
			JWTSecret: []byte(testSecret), Seed: 3,
		})
		if err == nil || !strings.Contains(err.Error(), "another user") {
			t.Fatalf("RunUsers error %v, want a wrong-user failure", err)
		}
		// Every message reaches the 2 devices of a user it was not for.
		if res.Sent != 10 || res.WrongUser != 20 || res.Delivered != 0 || res.Expected != 20 || res.Lost != 20 ||
			res.Drained || res.DevicesComplete != 0 {
			t.Fatalf("sent %d wrong %d delivered %d expected %d lost %d drained %v complete %d",
				res.Sent, res.WrongUser, res.Delivered, res.Expected, res.Lost, res.Drained, res.DevicesComplete)
		}
		var table bytes.Buffer
		if err := WriteUsersTable(&table, res); err != nil || !strings.Contains(table.String(), "MUST BE 0") {
			t.Errorf("table (%v):\n%s", err, table.String())
		}
	})
}

// benchEvent is the arguments of a "bench" event for message seq.
func benchEvent(t, seq int64) []byte {
	return fmt.Appendf(nil, `["bench",%s]`, AppendPayload(nil, t, seq, 0))
}

// The checker on its own, with forged deliveries.
func TestUsersChecker(t *testing.T) {
	cfg := UsersConfig{Targets: []Target{{Base: "a"}, {Base: "b"}}, Users: 3, Devices: 2, Rate: 10, Duration: time.Second, Seed: 1}
	r := newUsersRun(cfg)
	var total int32
	for u := range 3 {
		total += r.plan.count[u]
	}
	if total != 10 || len(r.devs) != 6 || r.plan.userOf(5) != 2 || r.plan.userOf(1) != 0 {
		t.Fatalf("plan: %d messages planned, %d devices", total, len(r.devs))
	}
	const seq = 4
	owner := int(r.plan.target[seq])
	other := (owner + 1) % 3
	now := r.clock.now()

	if v := r.deliver(r.devs[other*2+1], benchEvent(now, seq)); v != verdictWrongUser {
		t.Errorf("another user's device: verdict %d, want wrong user", v)
	}
	if v := r.deliver(r.devs[owner*2], benchEvent(now, seq)); v != verdictDelivered {
		t.Errorf("the owner's device: verdict %d, want delivered", v)
	}
	if v := r.deliver(r.devs[owner*2], benchEvent(now, seq)); v != verdictDuplicate {
		t.Errorf("the same device again: verdict %d, want duplicate", v)
	}
	if v := r.deliver(r.devs[owner*2+1], benchEvent(now, seq)); v != verdictDelivered {
		t.Errorf("the owner's other device: verdict %d, want delivered", v)
	}
	for _, bad := range [][]byte{benchEvent(now, 10), benchEvent(now, -1), []byte(`["other",1]`), []byte(`[`)} {
		if v := r.deliver(r.devs[0], bad); v != verdictBad {
			t.Errorf("%s: verdict %d, want bad", bad, v)
		}
	}

	// Only message seq was sent; every device is connected.
	r.pacer = newPacer(r.clock, cfg.Rate, r.planned, nil)
	r.pacer.markSent(seq)
	for _, dv := range r.devs {
		dv.joined = true
	}
	res := &UsersResult{}
	r.collect(res, time.Now())
	if res.Expected != 2 || res.Delivered != 2 || res.Lost != 0 || res.WrongUser != 1 || res.Duplicates != 1 ||
		res.BadEvents != 4 || res.DevicesComplete != 5 || len(res.PerTarget) != 2 {
		t.Errorf("collected %+v", res)
	}
}

func TestUsersCommandRefuses(t *testing.T) {
	t.Setenv("HERALD_BENCH_JWT_SECRET", "") // the flags alone decide
	t.Setenv("HERALD_BENCH_API_KEY", "")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-jwt-secret", "s", "-url", "http://10.0.0.1:3000"}, "refusing"},
		{[]string{"-users", "1"}, "-jwt-secret"},
		{[]string{"-jwt-secret", "s", "-users", "0"}, "-users and -devices"},
		{[]string{"-jwt-secret", "s", "-devices", "1000", "-users", "1000"}, "at most"},
		{[]string{"-jwt-secret", "s", "-rate", "1e6", "-duration", "1h", "-timeout", "2h"}, "messages; want"},
		{[]string{"-jwt-secret", "s", "-publish", "carrier-pigeon"}, "want client, api or emitter"},
		{[]string{"-jwt-secret", "s", "-publish", "emitter"}, "needs -redis"},
		{[]string{"-jwt-secret", "s", "-publish", "api"}, "needs -api-key"},
		{[]string{"-jwt-secret", "s", "-publish", "api", "-api-key", "k", "-api-url", "http://192.168.0.1:1"}, "refusing"},
		{[]string{"-jwt-secret", "s", "-redis", "10.0.0.1:6379"}, "refusing"},
		{[]string{"-jwt-secret", "s", "-publishers", "0"}, "-publishers"},
		{[]string{"stray"}, "unexpected"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"users"}, tt.args...), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tt.want) || out.Len() != 0 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 mentioning %q", tt.args, code, out.String(), errb.String(), tt.want)
		}
	}
}

// fanout through the API and the emitter: the same counts as the client path.
func TestFanoutPublishPaths(t *testing.T) {
	redis := testredis.Start(t)
	a := startNode(t, redis.Addr, false, nil)
	b := startNode(t, redis.Addr, false, nil)
	forReadPaths(t, func(t *testing.T, epoll bool) {
		for _, tc := range []struct{ path, room string }{
			{PublishAPI, "fanout"}, {PublishEmitter, "fanout"}, {PublishAPI, ""}, {PublishEmitter, ""},
		} {
			t.Run(tc.path+"/"+tc.room, func(t *testing.T) {
				res, err := RunFanout(context.Background(), FanoutConfig{
					Epoll: epoll, Targets: []Target{a, b}, Subscribers: 6, Parallel: 6, Room: tc.room, Publishers: 3,
					Publish: PublishConfig{Path: tc.path, APIKey: testAPIKey}, RedisAddr: redis.Addr,
					Rate: 100, Duration: 200 * time.Millisecond, Drain: 10 * time.Second, Timeout: time.Minute,
				})
				if err != nil {
					t.Fatalf("RunFanout: %v", err)
				}
				if res.Sent != 20 || res.Expected != 120 || res.Delivered != 120 || res.Duplicates != 0 ||
					res.BadEvents != 0 || !res.Drained || len(res.Errors) != 0 || res.Publish != tc.path {
					t.Fatalf("sent %d delivered %d/%d dups %d bad %d drained %v errors %v path %q",
						res.Sent, res.Delivered, res.Expected, res.Duplicates, res.BadEvents, res.Drained, res.Errors, res.Publish)
				}
			})
		}
	})
}

// A wrong API key stops publishing at the first message, with the API's answer.
func TestFanoutAPIWrongKey(t *testing.T) {
	tg := startNode(t, "", false, nil)
	forReadPaths(t, func(t *testing.T, epoll bool) {
		res, err := RunFanout(context.Background(), FanoutConfig{
			Epoll: epoll, Targets: []Target{tg}, Subscribers: 2, Parallel: 2, Room: "fanout",
			Publish: PublishConfig{Path: PublishAPI, APIKey: "wrong"},
			Rate:    100, Duration: 100 * time.Millisecond, Drain: time.Second, Timeout: time.Minute,
		})
		if err == nil || !strings.Contains(err.Error(), "HTTP 401") {
			t.Fatalf("RunFanout error %v, want HTTP 401", err)
		}
		if res.Sent != 0 || res.SendErrors != 1 || res.Delivered != 0 {
			t.Errorf("sent %d send errors %d delivered %d", res.Sent, res.SendErrors, res.Delivered)
		}
	})
}
