package main

// Redis counters for cluster runs: with -redis, the fanout scenario reads the
// bus's Redis INFO (commandstats, CPU, network totals) when the measurement
// window opens and when it closes, and reports the difference per message
// published: what one broadcast costs the Redis in the middle of a cluster.

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// RedisInfo is one sample of a Redis server's counters.
type RedisInfo struct {
	Calls  map[string]int64 // command (lower case, "client|list" for subcommands) → calls
	CPU    CPUTime          // used_cpu_user, used_cpu_sys: the whole redis-server process
	NetIn  int64            // total_net_input_bytes
	NetOut int64            // total_net_output_bytes
}

// RedisUsage is what Redis did during the measurement window.
type RedisUsage struct {
	Addr  string
	Calls map[string]int64 // commands run in the window, without the sampler's own INFO
	// TotalCalls sums Calls; the per-message figures divide by the messages sent.
	TotalCalls      int64
	CallsPerMessage float64
	CPU             PIDCPU // PID 0; Percent of one core over the window, µs per delivery
	CPUPerMessageUS float64
	NetIn, NetOut   int64
}

// ParseRedisAddr accepts HOST:PORT or redis://HOST:PORT with a loopback host.
func ParseRedisAddr(raw string) (string, error) {
	s := strings.TrimPrefix(strings.TrimSpace(raw), "redis://")
	s, _, _ = strings.Cut(s, "/")
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Errorf("-redis %q: want HOST:PORT: %w", raw, err)
	}
	ip, err := LoopbackAddr(host)
	if err != nil {
		return "", fmt.Errorf("-redis %q: %w", raw, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("-redis %q: bad port %q", raw, port)
	}
	return net.JoinHostPort(ip.String(), port), nil
}

// SampleRedis runs one INFO all on a fresh connection to addr. Its own call is
// counted by Redis (in the next sample, as one "info" call).
func SampleRedis(ctx context.Context, addr string) (RedisInfo, error) {
	var d net.Dialer
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return RedisInfo{}, fmt.Errorf("redis INFO: %w", err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if _, err := io.WriteString(c, "*2\r\n$4\r\nINFO\r\n$3\r\nall\r\n"); err != nil {
		return RedisInfo{}, fmt.Errorf("redis INFO: %w", err)
	}
	body, err := readBulk(bufio.NewReader(c))
	if err != nil {
		return RedisInfo{}, fmt.Errorf("redis INFO: %w", err)
	}
	return ParseRedisInfo(body)
}

// readBulk reads one RESP bulk string reply.
func readBulk(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if strings.HasPrefix(line, "-") {
		return "", errors.New(line[1:])
	}
	if !strings.HasPrefix(line, "$") {
		return "", fmt.Errorf("unexpected reply %q", truncate([]byte(line)))
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n < 0 || n > 64<<20 {
		return "", fmt.Errorf("bad bulk length %q", line)
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// ParseRedisInfo reads the fields it needs from an INFO reply.
func ParseRedisInfo(body string) (RedisInfo, error) {
	info := RedisInfo{Calls: map[string]int64{}}
	var haveCPU bool
	secs := func(v string) (time.Duration, error) {
		f, err := strconv.ParseFloat(v, 64)
		return time.Duration(f * float64(time.Second)), err
	}
	for line := range strings.Lines(body) {
		line = strings.TrimRight(line, "\r\n")
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		var err error
		switch {
		case strings.HasPrefix(k, "cmdstat_"):
			// cmdstat_publish:calls=12,usec=34,usec_per_call=2.83,...
			for _, f := range strings.Split(v, ",") {
				if n, ok := strings.CutPrefix(f, "calls="); ok {
					var calls int64
					calls, err = strconv.ParseInt(n, 10, 64)
					info.Calls[strings.ToLower(strings.TrimPrefix(k, "cmdstat_"))] = calls
				}
			}
		case k == "used_cpu_user":
			info.CPU.User, err = secs(v)
			haveCPU = true
		case k == "used_cpu_sys":
			info.CPU.Sys, err = secs(v)
		case k == "total_net_input_bytes":
			info.NetIn, err = strconv.ParseInt(v, 10, 64)
		case k == "total_net_output_bytes":
			info.NetOut, err = strconv.ParseInt(v, 10, 64)
		}
		if err != nil {
			return info, fmt.Errorf("redis INFO field %s: %q: %w", k, v, err)
		}
	}
	if !haveCPU {
		return info, errors.New("redis INFO: no used_cpu_user (not an INFO all reply?)")
	}
	return info, nil
}

// redisUsage is after − before, without the one INFO call the before sample made.
func redisUsage(addr string, before, after RedisInfo, window time.Duration, sent, delivered int64) *RedisUsage {
	u := &RedisUsage{Addr: addr, Calls: map[string]int64{},
		NetIn: after.NetIn - before.NetIn, NetOut: after.NetOut - before.NetOut}
	for cmd, n := range after.Calls {
		d := n - before.Calls[cmd]
		if cmd == "info" {
			d-- // the before sample's own INFO
		}
		if d > 0 {
			u.Calls[cmd] = d
			u.TotalCalls += d
		}
	}
	cpu := after.CPU.Sub(before.CPU)
	u.CPU = PIDCPU{UserSec: cpu.User.Seconds(), SysSec: cpu.Sys.Seconds(), TotalSec: cpu.Total().Seconds()}
	if window > 0 {
		u.CPU.Percent = 100 * u.CPU.TotalSec / window.Seconds()
	}
	if delivered > 0 {
		u.CPU.USPerDelivery = 1e6 * u.CPU.TotalSec / float64(delivered)
	}
	if sent > 0 {
		u.CallsPerMessage = float64(u.TotalCalls) / float64(sent)
		u.CPUPerMessageUS = 1e6 * u.CPU.TotalSec / float64(sent)
	}
	return u
}

// sortedCalls lists the commands, most called first.
func (u *RedisUsage) sortedCalls() []string {
	cmds := make([]string, 0, len(u.Calls))
	for c := range u.Calls {
		cmds = append(cmds, c)
	}
	slices.SortFunc(cmds, func(a, b string) int {
		return cmp.Or(cmp.Compare(u.Calls[b], u.Calls[a]), strings.Compare(a, b))
	})
	return cmds
}
