package main

// The idle scenario: open C Socket.IO connections, hold them, and measure
// how long that took and how much server memory each connection costs.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"time"
)

// IdleConfig configures one idle run.
type IdleConfig struct {
	Targets          []Target
	Conns            int
	Parallel         int
	Hold             time.Duration // from "all connected" to the end sample
	Settle           time.Duration // from "all connected" to the "after" sample
	Timeout          time.Duration // overall cap
	HandshakeTimeout time.Duration // per connection
	Namespace        string
	PIDs             []int
	// Epoll reads the connections with the epoll client (Dialer.Epoll; Linux only).
	Epoll bool
	// Progress, when set, is called about 4 times a second during the
	// connect phase (on RunIdle's goroutine), and once at its end.
	Progress func(IdleProgress)
}

// IdleProgress is a snapshot of the connect phase.
type IdleProgress struct {
	Connected, Failed, Target int
	Elapsed                   time.Duration
	Done                      bool
}

// PIDRSS holds the RSS samples of one server process, in KiB.
type PIDRSS struct {
	PID       int     `json:"pid"`
	BeforeKB  int64   `json:"before_kb"`
	AfterKB   int64   `json:"after_kb"` // all connected + settle
	EndKB     int64   `json:"end_kb"`   // end of hold
	PerConnKB float64 `json:"per_conn_kb"`
}

// IdleResult is what an idle run measured.
type IdleResult struct {
	Targets     []string
	Namespace   string
	Target      int
	Connected   int
	Failures    int
	Errors      map[string]int // failure reasons (first few distinct ones)
	ConnectTime time.Duration  // first dial start → last CONNECT ack
	Handshake   LatencySummary // per connection: dial start → CONNECT ack
	Hold        time.Duration
	AliveAtEnd  int   // still connected at the end of hold
	Disconnects int64 // dropped by the server while held
	Events      int64
	Pings       int64
	RSS         []PIDRSS
	RSSTotal    PIDRSS // sums over RSS; PID is 0
	ClientRSSKB int64  // this process at the end of hold
	TimedOut    bool

	// ClientReader is how this client read its connections: "epoll" or "gws"
	// (Dialer.Epoll).
	ClientReader string
}

// ConnectRate is successful connections per second of connect time.
func (r *IdleResult) ConnectRate() float64 {
	if r.ConnectTime <= 0 {
		return 0
	}
	return float64(r.Connected) / r.ConnectTime.Seconds()
}

func (cfg *IdleConfig) validate() error {
	if len(cfg.Targets) == 0 {
		return errors.New("no target URL")
	}
	if cfg.Conns < 1 {
		return errors.New("-c must be at least 1")
	}
	if cfg.Parallel < 1 {
		return errors.New("-parallel must be at least 1")
	}
	if cfg.Hold < 0 || cfg.Settle < 0 {
		return errors.New("-hold and -settle must not be negative")
	}
	if cfg.Timeout <= 0 {
		return errors.New("-timeout must be positive")
	}
	return nil
}

const maxErrorKinds = 8

// RunIdle runs the idle scenario. It returns a result whenever the run got
// as far as dialing, even on timeout (TimedOut set, error non-nil).
func RunIdle(ctx context.Context, cfg IdleConfig) (*IdleResult, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "/"
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	res := &IdleResult{Target: cfg.Conns, Namespace: cfg.Namespace, Errors: map[string]int{}}
	for _, t := range cfg.Targets {
		res.Targets = append(res.Targets, t.Base)
	}

	// Server baseline, strictly before the first dial.
	before, err := sampleRSS(cfg.PIDs)
	if err != nil {
		return nil, err
	}
	res.RSS = make([]PIDRSS, len(cfg.PIDs))
	for i, pid := range cfg.PIDs {
		res.RSS[i] = PIDRSS{PID: pid, BeforeKB: before[i]}
	}

	d := &Dialer{Namespace: cfg.Namespace, HandshakeTimeout: cfg.HandshakeTimeout, Epoll: cfg.Epoll}
	res.ClientReader = clientReader(d)
	clients := make([]*Client, cfg.Conns)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
		d.Wait()
	}()

	// Connect phase: cfg.Parallel workers take indexes until all are dialed.
	errs := newErrorCounter(res.Errors)
	phase := connectPhase{Dialer: d, Targets: cfg.Targets, Clients: clients, Parallel: cfg.Parallel, OnError: errs.add}
	if cfg.Progress != nil {
		phase.Progress = func(p connectProgress) {
			cfg.Progress(IdleProgress{Connected: p.Connected, Failed: p.Failed, Target: p.Target, Elapsed: p.Elapsed, Done: p.Done})
		}
	}
	cr := phase.run(ctx)
	res.Connected, res.Failures = cr.Connected, cr.Failed
	res.ConnectTime, res.Handshake = cr.Time, cr.Handshake
	if ctx.Err() != nil {
		res.TimedOut = true
		return res, fmt.Errorf("timed out after %v with %d/%d connected", cfg.Timeout, res.Connected, cfg.Conns)
	}

	// Hold: sample after settling, then again at the end of the hold.
	allConnected := time.Now()
	wait := func(until time.Time) bool {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if res.Connected == 0 {
		cfg.Settle, cfg.Hold = 0, 0 // nothing to hold
	}
	if !wait(allConnected.Add(cfg.Settle)) {
		res.TimedOut = true
	}
	after, err := sampleRSS(cfg.PIDs)
	if err != nil {
		return res, err
	}
	if !res.TimedOut && !wait(allConnected.Add(cfg.Hold)) {
		res.TimedOut = true
	}
	res.Hold = time.Since(allConnected)
	end, err := sampleRSS(cfg.PIDs)
	if err != nil {
		return res, err
	}
	for i := range res.RSS {
		r := &res.RSS[i]
		r.AfterKB, r.EndKB = after[i], end[i]
		r.PerConnKB = perConn(r.AfterKB-r.BeforeKB, res.Connected)
		res.RSSTotal.BeforeKB += r.BeforeKB
		res.RSSTotal.AfterKB += r.AfterKB
		res.RSSTotal.EndKB += r.EndKB
	}
	res.RSSTotal.PerConnKB = perConn(res.RSSTotal.AfterKB-res.RSSTotal.BeforeKB, res.Connected)
	if kb, err := ReadRSSKB(os.Getpid()); err == nil {
		res.ClientRSSKB = kb
	}
	for _, c := range clients {
		if c != nil && c.Connected() {
			res.AliveAtEnd++
		}
	}
	res.Disconnects = d.Stats.Disconnects.Load()
	res.Events = d.Stats.Events.Load()
	res.Pings = d.Stats.Pings.Load()
	if res.TimedOut {
		return res, fmt.Errorf("timed out after %v during hold", cfg.Timeout)
	}
	return res, nil
}

func perConn(deltaKB int64, conns int) float64 {
	if conns == 0 {
		return 0
	}
	return float64(deltaKB) / float64(conns)
}

func sampleRSS(pids []int) ([]int64, error) {
	out := make([]int64, len(pids))
	for i, pid := range pids {
		kb, err := ReadRSSKB(pid)
		if err != nil {
			return nil, fmt.Errorf("reading server RSS: %w", err)
		}
		out[i] = kb
	}
	return out, nil
}

// sortedErrors lists failure reasons, most frequent first.
func sortedErrors(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}
