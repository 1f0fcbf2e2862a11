package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testredis"
)

const infoSample = "# Server\r\nredis_version:7.0.15\r\n\r\n# Stats\r\ntotal_net_input_bytes:1000\r\n" +
	"total_net_output_bytes:5000\r\n\r\n# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:0.250000\r\n" +
	"used_cpu_sys_children:0.000000\r\n\r\n# Commandstats\r\n" +
	"cmdstat_publish:calls=12,usec=34,usec_per_call=2.83,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_client|list:calls=1,usec=25,usec_per_call=25.00,rejected_calls=0,failed_calls=0\r\n" +
	"cmdstat_info:calls=3,usec=300,usec_per_call=100.00,rejected_calls=0,failed_calls=0\r\n"

func TestParseRedisInfo(t *testing.T) {
	info, err := ParseRedisInfo(infoSample)
	if err != nil {
		t.Fatal(err)
	}
	if info.Calls["publish"] != 12 || info.Calls["client|list"] != 1 || info.Calls["info"] != 3 || len(info.Calls) != 3 {
		t.Errorf("calls %v", info.Calls)
	}
	if info.CPU.Sys != 1500*time.Millisecond || info.CPU.User != 250*time.Millisecond {
		t.Errorf("cpu %+v", info.CPU)
	}
	if info.NetIn != 1000 || info.NetOut != 5000 {
		t.Errorf("net in %d out %d", info.NetIn, info.NetOut)
	}
	if _, err := ParseRedisInfo("# Commandstats\r\n"); err == nil {
		t.Error("a reply without CPU fields parsed")
	}
	if _, err := ParseRedisInfo("used_cpu_user:x\r\n"); err == nil {
		t.Error("a bad number parsed")
	}
}

func TestRedisUsage(t *testing.T) {
	before := RedisInfo{Calls: map[string]int64{"publish": 10, "info": 4, "zadd": 1},
		CPU: CPUTime{User: time.Second, Sys: time.Second}, NetIn: 100, NetOut: 200}
	after := RedisInfo{Calls: map[string]int64{"publish": 110, "info": 5, "zadd": 3, "subscribe": 2},
		CPU: CPUTime{User: 1500 * time.Millisecond, Sys: 2 * time.Second}, NetIn: 1100, NetOut: 10200}
	u := redisUsage("127.0.0.1:1", before, after, 10*time.Second, 100, 1000)
	want := map[string]int64{"publish": 100, "zadd": 2, "subscribe": 2} // info: only the sampler's own
	if len(u.Calls) != len(want) {
		t.Fatalf("calls %v, want %v", u.Calls, want)
	}
	for k, v := range want {
		if u.Calls[k] != v {
			t.Errorf("calls %v, want %v", u.Calls, want)
		}
	}
	if u.TotalCalls != 104 || u.CallsPerMessage != 1.04 {
		t.Errorf("total %d, per message %v", u.TotalCalls, u.CallsPerMessage)
	}
	if u.CPU.TotalSec != 1.5 || u.CPU.Percent != 15 || u.CPUPerMessageUS != 15000 || u.CPU.USPerDelivery != 1500 {
		t.Errorf("cpu %+v, per message %v", u.CPU, u.CPUPerMessageUS)
	}
	if u.NetIn != 1000 || u.NetOut != 10000 {
		t.Errorf("net %d/%d", u.NetIn, u.NetOut)
	}
	if got := strings.Join(u.sortedCalls(), ","); got != "publish,subscribe,zadd" {
		t.Errorf("sorted %s", got)
	}
}

func TestParseRedisAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:6380":          "127.0.0.1:6380",
		"redis://127.0.0.1:7000/": "127.0.0.1:7000",
		"localhost:7000":          "127.0.0.1:7000",
		"[::1]:7000":              "[::1]:7000",
	} {
		if got, err := ParseRedisAddr(in); err != nil || got != want {
			t.Errorf("ParseRedisAddr(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"10.0.0.1:6379", "example.com:6379", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:x"} {
		if _, err := ParseRedisAddr(in); err == nil {
			t.Errorf("ParseRedisAddr(%q) accepted", in)
		}
	}
}

// startRedis starts a private redis-server; testredis fails the test, naming the
// package to install, when there is none (.ci/run installs it).
func startRedis(t *testing.T) *testredis.Server {
	t.Helper()
	return testredis.Start(t)
}

func TestSampleRedis(t *testing.T) {
	r := startRedis(t)
	ctx := context.Background()
	before, err := SampleRedis(ctx, r.Addr)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if reply, err := r.Command("PUBLISH", "ch", "x"); err != nil || reply != ":0" {
			t.Fatalf("PUBLISH: %q %v", reply, err)
		}
	}
	after, err := SampleRedis(ctx, r.Addr)
	if err != nil {
		t.Fatal(err)
	}
	u := redisUsage(r.Addr, before, after, time.Second, 3, 0)
	if u.Calls["publish"] != 3 || u.TotalCalls != 3 {
		t.Errorf("calls %v (total %d), want publish 3 and nothing else", u.Calls, u.TotalCalls)
	}
	if u.NetIn <= 0 || u.NetOut <= 0 || u.CPU.TotalSec < 0 {
		t.Errorf("usage %+v", u)
	}
}

// A fanout run with -redis reports the window's Redis usage: here a lone Herald that
// does not use the Redis, so nothing but the sampler ran there, and that is not counted.
func TestFanoutRedisCounters(t *testing.T) {
	r := startRedis(t)
	tg := startHerald(t, nil)
	res, err := RunFanout(context.Background(), FanoutConfig{
		Targets: []Target{tg}, Subscribers: 4, Parallel: 4, Room: "fanout",
		Rate: 50, Duration: 200 * time.Millisecond, PayloadBytes: 50,
		Drain: 5 * time.Second, Timeout: time.Minute, RedisAddr: r.Addr,
	})
	if err != nil {
		t.Fatalf("RunFanout: %v", err)
	}
	if res.Redis == nil || res.Redis.TotalCalls != 0 || res.Redis.Addr != r.Addr {
		t.Fatalf("redis %+v", res.Redis)
	}
	var table, js strings.Builder
	if err := WriteFanoutTable(&table, res); err != nil || !strings.Contains(table.String(), "redis CPU") {
		t.Errorf("table %v:\n%s", err, table.String())
	}
	if err := WriteFanoutJSON(&js, res); err != nil || !strings.Contains(js.String(), `"calls_per_message": 0`) {
		t.Errorf("json %v:\n%s", err, js.String())
	}
}
