package main

// The connect-storm scenario: N connections ramp up, Parallel dials in flight;
// then every one is closed at once and all of them reconnect at once (still at
// most Parallel dials in flight), as clients do after a server restart or a
// network blip. It measures the plain connect time of the ramp, and for the
// storm the time until every connection is back on its namespace, the
// handshakes during the storm, failures and the servers' CPU.

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// StormConfig configures one connect-storm run.
type StormConfig struct {
	Targets   []Target
	Namespace string // "/" when empty
	Conns     int
	Parallel  int
	// Retries is how many more times a connection that fails during the storm is
	// dialed again, at once. The ramp does not retry.
	Retries          int
	Timeout          time.Duration // overall cap
	HandshakeTimeout time.Duration // per attempt: dial → CONNECT ack
	// JWTSecret, when set, authenticates connection i as user "u<i>" (HS256 token
	// in the CONNECT auth payload), so the storm includes token checks and joins.
	JWTSecret []byte
	PIDs      []int // server processes whose CPU to sample over the storm
	// Epoll reads the connections with the epoll client (Dialer.Epoll; Linux only).
	Epoll bool
	// Progress, when set, is called about 4 times a second on RunStorm's
	// goroutine, and at the end of each phase.
	Progress func(StormProgress)
}

// maxStormConns bounds a run.
const maxStormConns = 200_000

func (cfg *StormConfig) validate() error {
	if len(cfg.Targets) == 0 {
		return errors.New("no target URL")
	}
	if cfg.Conns < 1 || cfg.Conns > maxStormConns {
		return fmt.Errorf("-c must be 1..%d", maxStormConns)
	}
	if cfg.Parallel < 1 {
		return errors.New("-parallel must be at least 1")
	}
	if cfg.Retries < 0 || cfg.Retries > 100 {
		return errors.New("-retries must be 0..100")
	}
	if cfg.Timeout <= 0 {
		return errors.New("-timeout must be positive")
	}
	return nil
}

// StormProgress is a snapshot of a running connect storm.
type StormProgress struct {
	Phase             string // "ramp", "drop", "storm", "done"
	Connected, Failed int
	Target            int
	Elapsed           time.Duration // since the phase started
}

// StormCPU is what one server process used during the storm.
type StormCPU struct {
	PID       int     `json:"pid"`
	TotalSec  float64 `json:"total_s"`
	Percent   float64 `json:"percent"` // of one core, over the storm
	USPerConn float64 `json:"us_per_conn"`
}

// StormResult is what a connect-storm run measured.
type StormResult struct {
	Targets       []string
	Namespace     string
	Conns         int
	Parallel      int
	Authenticated bool

	// The ramp: connect time for Conns connections with Parallel in flight.
	Connected   int
	RampFailed  int
	ConnectTime time.Duration // first dial → last CONNECT ack
	Handshake   LatencySummary

	// The drop: every connection closed at once.
	Dropped  int
	DropTime time.Duration // first close → every connection closed on our side

	// The storm: every one of Conns dialed again at once.
	Back           int           // connected again
	StormFailed    int           // not back at the end
	Retried        int           // failed attempts dialed again
	StormTime      time.Duration // first redial → last CONNECT ack: the time until all are back
	StormHandshake LatencySummary
	// BackAfter is per connection: first redial of the storm → its CONNECT ack
	// (waiting for a dial slot and retries included).
	BackAfter    LatencySummary
	AliveAtEnd   int   // still connected when the storm ended
	Disconnects  int64 // connections dropped by the server (not by us) at any time
	ServerCPU    []StormCPU
	StormWindow  time.Duration // drop start → storm end (the CPU window)
	RampErrors   map[string]int
	StormErrors  map[string]int
	TimedOut     bool
	ClientCPUSec float64 // this process over the storm window

	// ClientReader is how this client read its connections: "epoll" or "gws"
	// (Dialer.Epoll).
	ClientReader string
}

// StormRate is connections back per second of storm time.
func (r *StormResult) StormRate() float64 { return rate(r.Back, r.StormTime) }

// ConnectRate is connections per second of the ramp's connect time.
func (r *StormResult) ConnectRate() float64 { return rate(r.Connected, r.ConnectTime) }

// RunStorm runs the connect-storm scenario. It returns a result whenever the run
// got as far as dialing, even on timeout (TimedOut set, error non-nil).
func RunStorm(ctx context.Context, cfg StormConfig) (*StormResult, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "/"
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	res := &StormResult{Namespace: cfg.Namespace, Conns: cfg.Conns, Parallel: cfg.Parallel,
		Authenticated: len(cfg.JWTSecret) > 0, RampErrors: map[string]int{}, StormErrors: map[string]int{}}
	for _, t := range cfg.Targets {
		res.Targets = append(res.Targets, t.Base)
	}
	d := &Dialer{Namespace: cfg.Namespace, HandshakeTimeout: cfg.HandshakeTimeout, Epoll: cfg.Epoll}
	res.ClientReader = clientReader(d)
	if len(cfg.JWTSecret) > 0 {
		ids := make([]string, cfg.Conns)
		for i := range ids {
			ids[i] = userID(i)
		}
		auth, err := authPayloads(cfg.JWTSecret, ids, cfg.Timeout+time.Hour)
		if err != nil {
			return nil, err
		}
		d.Auth = func(i int) []byte { return auth[i] }
	}
	clients := make([]*Client, cfg.Conns)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
		d.Wait()
	}()
	progress := func(phase string) func(connectProgress) {
		if cfg.Progress == nil {
			return nil
		}
		return func(p connectProgress) {
			cfg.Progress(StormProgress{Phase: phase, Connected: p.Connected, Failed: p.Failed, Target: p.Target, Elapsed: p.Elapsed})
		}
	}

	// Ramp.
	ramp := connectPhase{Dialer: d, Targets: cfg.Targets, Clients: clients, Parallel: cfg.Parallel,
		OnError: newErrorCounter(res.RampErrors).add, Progress: progress("ramp")}
	cr := ramp.run(ctx)
	res.Connected, res.RampFailed, res.ConnectTime, res.Handshake = cr.Connected, cr.Failed, cr.Time, cr.Handshake
	if ctx.Err() != nil {
		res.TimedOut = true
		return res, fmt.Errorf("timed out during the ramp with %d/%d connected", cr.Connected, cfg.Conns)
	}
	if cr.Connected == 0 {
		return res, errors.New("no connection could be opened")
	}

	// Drop every connection at once; the storm's CPU window opens here.
	srvBefore, err := sampleCPU(cfg.PIDs)
	if err != nil {
		return res, err
	}
	selfBefore, err := SelfCPUTime()
	if err != nil {
		return res, err
	}
	dropStart := time.Now()
	for i, c := range clients {
		if c != nil {
			c.Close()
			clients[i] = nil
			res.Dropped++
		}
	}
	d.Wait() // every reader has seen its connection close
	res.DropTime = time.Since(dropStart)
	if cfg.Progress != nil {
		cfg.Progress(StormProgress{Phase: "drop", Target: cfg.Conns, Elapsed: res.DropTime})
	}

	// Storm: all of them again, at once.
	storm := connectPhase{Dialer: d, Targets: cfg.Targets, Clients: clients, Parallel: cfg.Parallel,
		Retries: cfg.Retries, OnError: newErrorCounter(res.StormErrors).add, Progress: progress("storm")}
	sr := storm.run(ctx)
	res.Back, res.StormFailed, res.Retried = sr.Connected, sr.Failed, sr.Retried
	res.StormTime, res.StormHandshake, res.BackAfter = sr.Time, sr.Handshake, sr.Back
	res.StormWindow = time.Since(dropStart)
	srvAfter, err := sampleCPU(cfg.PIDs)
	if err != nil {
		return res, err
	}
	if self, err := SelfCPUTime(); err == nil {
		res.ClientCPUSec = self.Sub(selfBefore).Total().Seconds()
	}
	for i, pid := range cfg.PIDs {
		used := srvAfter[i].Sub(srvBefore[i]).Total().Seconds()
		c := StormCPU{PID: pid, TotalSec: used}
		if res.StormWindow > 0 {
			c.Percent = 100 * used / res.StormWindow.Seconds()
		}
		if res.Back > 0 {
			c.USPerConn = 1e6 * used / float64(res.Back)
		}
		res.ServerCPU = append(res.ServerCPU, c)
	}
	for _, c := range clients {
		if c != nil && c.Connected() {
			res.AliveAtEnd++
		}
	}
	res.Disconnects = d.Stats.Disconnects.Load()
	if cfg.Progress != nil {
		cfg.Progress(StormProgress{Phase: "done", Connected: res.Back, Failed: res.StormFailed, Target: cfg.Conns,
			Elapsed: res.StormTime})
	}
	if ctx.Err() != nil {
		res.TimedOut = true
		return res, fmt.Errorf("timed out during the storm with %d/%d back", res.Back, cfg.Conns)
	}
	return res, nil
}
