package main

// The connect phase every scenario starts with: N connections dialed Parallel at
// a time, connection i to Targets[i mod len(Targets)]. idle reports it as connect
// time; connect-storm runs it twice (the ramp, then the reconnect storm); fanout
// and users run it with a join or an auth payload.

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// connectPhase describes one connect phase.
type connectPhase struct {
	Dialer   *Dialer
	Targets  []Target
	Clients  []*Client // len N; the phase stores each connected client at its index, nil when it failed
	Parallel int
	// Retries is how many more times a failed connection is dialed again (at once,
	// as a client's first reconnect attempt would). Zero: no retry.
	Retries int
	// After, when set, runs once a connection has its CONNECT ack (the fanout join);
	// an error closes the connection and counts as a failed attempt.
	After func(ctx context.Context, c *Client) error
	// OnError, when set, is called with every failed attempt's error, from the
	// dialing goroutines (it must be safe for concurrent use).
	OnError func(error)
	// Progress, when set, is called about every Every (250 ms when zero) on the
	// caller's goroutine, and once when the phase ends.
	Progress func(connectProgress)
	Every    time.Duration
}

// connectProgress is a snapshot of a connect phase.
type connectProgress struct {
	Connected, Failed, Target int
	Elapsed                   time.Duration
	Done                      bool
}

// connectResult is what a connect phase measured.
type connectResult struct {
	Connected int
	Failed    int // connections not connected at the end (never dialed ones included)
	Retried   int // failed attempts that were dialed again
	// Time is phase start → the last CONNECT ack: the connect time of Connected
	// connections with Parallel in flight.
	Time time.Duration
	// Handshake is per connection: its last attempt's dial start → CONNECT ack.
	Handshake LatencySummary
	// Back is per connection: phase start → its CONNECT ack (queueing behind the
	// Parallel limit and retries included).
	Back LatencySummary
}

// run dials every connection. It returns when each has connected or failed for
// good, or ctx has ended (the rest then count as failed).
func (p *connectPhase) run(ctx context.Context) connectResult {
	n := len(p.Clients)
	every := p.Every
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	handshake := make([]time.Duration, n)
	var next, connected, failed, retried atomic.Int64
	var workers sync.WaitGroup
	start := time.Now()
	// attempt dials connection i once; it reports whether i is connected.
	attempt := func(i int) bool {
		dialStart := time.Now()
		c, err := p.Dialer.DialIndex(ctx, p.Targets[i%len(p.Targets)].WSURL, i)
		if err == nil && p.After != nil {
			if err = p.After(ctx, c); err != nil {
				c.Close()
			}
		}
		if err != nil {
			if p.OnError != nil {
				p.OnError(err)
			}
			return false
		}
		handshake[i] = c.AckAt().Sub(dialStart)
		p.Clients[i] = c
		return true
	}
	for range min(max(p.Parallel, 1), n) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				ok := attempt(i)
				for try := 0; !ok && try < p.Retries && ctx.Err() == nil; try++ {
					retried.Add(1)
					ok = attempt(i)
				}
				if ok {
					connected.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	report := func(last bool) {
		if p.Progress != nil {
			p.Progress(connectProgress{Connected: int(connected.Load()), Failed: int(failed.Load()),
				Target: n, Elapsed: time.Since(start), Done: last})
		}
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
wait:
	for {
		select {
		case <-done:
			break wait
		case <-tick.C:
			report(false)
		}
	}
	report(true)

	res := connectResult{Retried: int(retried.Load())}
	var hs, back []time.Duration
	var lastAck time.Time
	for i, c := range p.Clients {
		if c == nil {
			continue
		}
		hs = append(hs, handshake[i])
		back = append(back, c.AckAt().Sub(start))
		if c.AckAt().After(lastAck) {
			lastAck = c.AckAt()
		}
	}
	res.Connected = len(hs)
	res.Failed = n - res.Connected
	if res.Connected > 0 {
		res.Time = lastAck.Sub(start)
	}
	res.Handshake = Summarize(hs)
	res.Back = Summarize(back)
	return res
}

// errorCounter collects failure reasons: the first maxErrorKinds distinct ones, the
// rest as "(other errors)". It is safe for concurrent use.
type errorCounter struct {
	mu sync.Mutex
	m  map[string]int // guarded by mu
}

func newErrorCounter(m map[string]int) *errorCounter { return &errorCounter{m: m} }

// add records err under its kind (errorKind: without the local address).
func (e *errorCounter) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	msg := errorKind(err)
	if _, ok := e.m[msg]; !ok && len(e.m) >= maxErrorKinds {
		msg = "(other errors)"
	}
	e.m[msg]++
}
