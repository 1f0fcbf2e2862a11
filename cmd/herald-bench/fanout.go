package main

// The fanout scenario: C subscribers join one room, messages to it go out at a
// fixed rate through the chosen publish path (publish.go: a publisher
// connection, the HTTP API or the Redis emitter format), and every subscriber
// measures each message's latency (arrival − the send stamp in its payload) and
// checks its sequence numbers.
//
// The per-message path runs on the subscriber's reader goroutine and touches
// only that subscriber's state: a parse that stops once it has t and seq, one
// time.Now, a histogram bucket and a counter (atomic, but never contended), a
// bitmap bit. Nothing is allocated there, and nothing shared is written except
// once per subscriber, when it has seen every message.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/bus/redis/wire"
)

// FanoutConfig configures one fanout run.
type FanoutConfig struct {
	Targets          []Target
	Namespace        string        // "/bench" when empty
	Room             string        // "" broadcasts to the whole namespace (null room); no join then
	Subscribers      int           // connections that receive
	Publishers       int           // senders at once (PublishConfig); 1 when zero
	Publish          PublishConfig // the publish path; the client path when zero
	Parallel         int           // dials in flight
	Rate             float64       // messages per second, over all publishers
	Duration         time.Duration // publishing time; Rate×Duration messages (rounded) are sent
	PayloadBytes     int           // size of the payload object
	Drain            time.Duration // after the last send, how long to wait for stragglers
	Timeout          time.Duration // overall cap
	HandshakeTimeout time.Duration // per connection: dial → CONNECT ack, and join → ack
	ReadBufferSize   int           // per-connection read buffer (gws reader only); 4 KiB when zero
	Plain            bool          // subscribers use the plain WebSocket endpoint (Dialer.Plain)
	PlainPath        string        // its path; "/ws" when empty
	PIDs             []int         // server processes whose CPU to sample
	// Epoll reads the connections with the epoll client (Dialer.Epoll; Linux only).
	Epoll bool
	// RedisAddr, when set (loopback HOST:PORT), is the cluster's Redis: its INFO
	// counters are read when the window opens and closes (FanoutResult.Redis),
	// the run waits for every node's subscription to the room before the first
	// send (waitSubscribed), and the emitter path publishes there.
	RedisAddr string
	// ReadyTimeout bounds that wait; 10 s when zero.
	ReadyTimeout time.Duration
	// Progress, when set, is called about every ProgressEvery (500 ms when zero)
	// on RunFanout's goroutine, and once when the run ends.
	Progress      func(FanoutProgress)
	ProgressEvery time.Duration
	// OnPublish, when set, is called with true just before the measurement
	// window opens (first send) and with false when it closes (after drain).
	OnPublish func(start bool)
}

// Limits that keep a run bounded in memory and count.
const (
	maxFanoutMessages = 10_000_000
	maxSeenBitmapMiB  = 512 // subscribers × messages / 8
)

func (cfg *FanoutConfig) planned() int64 {
	return int64(math.Round(cfg.Rate * cfg.Duration.Seconds()))
}

func (cfg *FanoutConfig) validate() error {
	if len(cfg.Targets) == 0 {
		return errors.New("no target URL")
	}
	if cfg.Subscribers < 1 {
		return errors.New("-c must be at least 1")
	}
	if cfg.Publishers < 0 || cfg.Parallel < 1 {
		return errors.New("-publishers must not be negative and -parallel must be at least 1")
	}
	if !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0) || cfg.Duration <= 0 {
		return errors.New("-rate and -duration must be positive")
	}
	n := cfg.planned()
	if n < 1 || n > maxFanoutMessages {
		return fmt.Errorf("-rate × -duration is %d messages; want 1..%d", n, maxFanoutMessages)
	}
	if mib := float64(cfg.Subscribers) * float64(n) / 8 / (1 << 20); mib > maxSeenBitmapMiB {
		return fmt.Errorf("-c × messages needs %.0f MiB of sequence bitmaps; the cap is %d MiB", mib, maxSeenBitmapMiB)
	}
	if cfg.PayloadBytes < 0 {
		return errors.New("-payload must not be negative")
	}
	if cfg.Drain < 0 {
		return errors.New("-drain must not be negative")
	}
	if cfg.Timeout <= cfg.Duration+cfg.Drain {
		return fmt.Errorf("-timeout (%v) must exceed -duration + -drain (%v)", cfg.Timeout, cfg.Duration+cfg.Drain)
	}
	return cfg.Publish.validate(cfg.RedisAddr)
}

// FanoutProgress is a snapshot of a running fanout or users run (Joined then
// counts connected devices, and Expected the deliveries due for what was sent).
type FanoutProgress struct {
	Phase            string // "connect", "publish", "drain", "done"
	Joined, Target   int    // subscribers joined / wanted
	Sent, Planned    int64
	Delivered        int64   // unique deliveries so far
	Expected         int64   // Joined × Sent
	RatePerSec       float64 // deliveries per second since the last snapshot
	P99              time.Duration
	Elapsed          time.Duration // since the phase started
	Disconnects      int64
	ClientCPUPercent float64 // since the last snapshot (100 = one core)
	WrongUser        int64   // users: deliveries to a device of another user
}

// PIDCPU is the CPU one server process used during the measurement window.
type PIDCPU struct {
	PID           int     `json:"pid"`
	UserSec       float64 `json:"user_s"`
	SysSec        float64 `json:"sys_s"`
	TotalSec      float64 `json:"total_s"`
	Percent       float64 `json:"percent"` // of one core, over the window
	USPerDelivery float64 `json:"us_per_delivery"`
}

// FanoutResult is what a fanout run measured.
type FanoutResult struct {
	Targets      []string
	Namespace    string
	Room         string
	Publish      string // the publish path
	Plain        bool   `json:",omitempty"` // subscribers on the plain WebSocket endpoint
	Subscribers  int    // wanted
	Joined       int    // connected and joined (the audience)
	Publishers   int
	Rate         float64
	Duration     time.Duration
	PayloadBytes int // actual size of each payload object
	Planned      int64
	Sent         int64         // sent without error
	SendErrors   int64         // sends that failed (publishing stops at the first)
	PublishTime  time.Duration // first send → last send
	Expected     int64         // Joined × Sent
	Delivered    int64         // unique (subscriber, seq) pairs received
	Lost         int64         // Expected − Delivered
	Duplicates   int64
	Reordered    int64 // arrivals with a lower seq than the previous one
	BadEvents    int64 // events that were not a parseable bench message of this run
	DeliveryTime time.Duration
	Latency      LatencySummary
	Disconnects  int64 // subscribers or publishers dropped by the server
	Drained      bool  // every subscriber had every message before the drain timeout
	DrainWait    time.Duration
	// Usage is the CPU and Redis figures of the window (before the first send →
	// after the drain), per delivery.
	Usage
	// PerTarget splits delivery and latency by the target URL the subscribers
	// connected to (subscriber i uses target i mod len(Targets)); nil with one target.
	PerTarget []TargetResult
	Errors    map[string]int
	TimedOut  bool

	// ClientReader is how this client read its connections: "epoll" or "gws"
	// (Dialer.Epoll).
	ClientReader string
}

// TargetResult is delivery and latency of the subscribers on one target.
type TargetResult struct {
	Target    string
	Joined    int
	Expected  int64 // Joined × Sent
	Delivered int64
	Latency   LatencySummary
}

// DeliveriesPerSec is unique deliveries per second of delivery time.
func (r *FanoutResult) DeliveriesPerSec() float64 {
	if r.DeliveryTime <= 0 {
		return 0
	}
	return float64(r.Delivered) / r.DeliveryTime.Seconds()
}

// subscriber is one receiving connection's state. hist and delivered are
// read concurrently (progress); every other field belongs to the connection's
// reader goroutine and is read only after that goroutine has ended.
type subscriber struct {
	hist      Histogram
	delivered atomic.Int64 // unique messages

	seen      []uint64 // bit per seq
	joined    bool     // set by connect before publishing starts
	dups      int64
	reordered int64
	bad       int64
	lastSeq   int64
	lastRecv  int64 // unix ns of the last unique arrival
	minNS     int64
	maxNS     int64
	sumNS     int64
}

// stampClock reads unix nanoseconds as the start's wall time plus the monotonic
// time since: one clock read (time.Since) instead of time.Now's two, which is
// measurable at a million reads a second. Publishers and subscribers share
// one, so the stamps and the arrival times are on the same clock.
type stampClock struct {
	base     time.Time
	baseUnix int64
}

func newStampClock() stampClock {
	now := time.Now()
	return stampClock{base: now, baseUnix: now.UnixNano()}
}

func (c stampClock) now() int64 { return c.baseUnix + int64(time.Since(c.base)) }

func (c stampClock) time(unixNano int64) time.Time {
	return c.base.Add(time.Duration(unixNano - c.baseUnix))
}

type fanoutRun struct {
	clock   stampClock
	cfg     FanoutConfig
	planned int64
	subs    []*subscriber
	pending atomic.Int64  // joined subscribers that still miss messages
	allDone chan struct{} // closed when pending reaches 0 after publishing started
	pacer   *pacer        // set before publishing starts
}

// onEvent runs on a subscriber's reader goroutine for every EVENT.
func (r *fanoutRun) onEvent(c *Client, data []byte) {
	s := r.subs[c.Index]
	t, seq, ok := ParseBenchEvent(data)
	if !ok || seq < 0 || seq >= r.planned {
		s.bad++
		return
	}
	now := r.clock.now()
	w, bit := seq>>6, uint64(1)<<(seq&63)
	if s.seen[w]&bit != 0 {
		s.dups++
		return
	}
	s.seen[w] |= bit
	lat := max(now-t, 0)
	s.hist.Record(lat)
	n := s.delivered.Add(1)
	if seq < s.lastSeq {
		s.reordered++
	}
	s.lastSeq = seq
	s.lastRecv = now
	s.minNS = min(s.minNS, lat)
	s.maxNS = max(s.maxNS, lat)
	s.sumNS += lat
	if n == r.planned && r.pending.Add(-1) == 0 {
		close(r.allDone)
	}
}

// RunFanout runs the fanout scenario. It returns a result whenever the run got
// as far as publishing, even on timeout (TimedOut set, error non-nil).
func RunFanout(ctx context.Context, cfg FanoutConfig) (*FanoutResult, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "/bench"
	}
	if cfg.Publishers == 0 {
		cfg.Publishers = 1
	}
	cfg.Publish.normalize()
	if cfg.ReadBufferSize <= 0 {
		cfg.ReadBufferSize = 4096
	}
	if cfg.ProgressEvery <= 0 {
		cfg.ProgressEvery = 500 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	r := &fanoutRun{clock: newStampClock(), cfg: cfg, planned: cfg.planned(), allDone: make(chan struct{})}
	r.subs = make([]*subscriber, cfg.Subscribers)
	words := (r.planned + 63) / 64
	for i := range r.subs {
		r.subs[i] = &subscriber{seen: make([]uint64, words), lastSeq: -1, minNS: math.MaxInt64}
	}
	res := &FanoutResult{
		Namespace: cfg.Namespace, Room: cfg.Room, Publish: cfg.Publish.Path, Plain: cfg.Plain, Subscribers: cfg.Subscribers,
		Publishers: cfg.Publishers, Rate: cfg.Rate, Duration: cfg.Duration, Planned: r.planned, Errors: map[string]int{},
		PayloadBytes: len(AppendPayload(nil, time.Now().UnixNano(), r.planned-1, cfg.PayloadBytes)),
	}
	for _, t := range cfg.Targets {
		res.Targets = append(res.Targets, t.Base)
	}
	errs := newErrorCounter(res.Errors)

	subDialer := &Dialer{Namespace: cfg.Namespace, HandshakeTimeout: cfg.HandshakeTimeout, Epoll: cfg.Epoll,
		ReadBufferSize: cfg.ReadBufferSize, OnEvent: r.onEvent, Plain: cfg.Plain, PlainPath: cfg.PlainPath}
	pubDialer := &Dialer{Namespace: cfg.Namespace, HandshakeTimeout: cfg.HandshakeTimeout, Epoll: cfg.Epoll}
	res.ClientReader = clientReader(subDialer, pubDialer)
	subs := make([]*Client, cfg.Subscribers)
	var pubs []*Client
	var pub publisher
	defer func() {
		if pub != nil {
			pub.close()
		}
		for _, c := range slices.Concat(subs, pubs) {
			if c != nil {
				c.Close()
			}
		}
		subDialer.Wait()
		pubDialer.Wait()
	}()

	// Connect and join.
	joined := r.connect(ctx, subDialer, subs, errs.add)
	res.Joined = joined
	if ctx.Err() != nil {
		res.TimedOut = true
		return res, fmt.Errorf("timed out connecting: %d/%d subscribers joined", joined, cfg.Subscribers)
	}
	if joined == 0 {
		return res, errors.New("no subscriber could connect and join")
	}
	r.pending.Store(int64(joined))
	if cfg.Publish.Path == PublishClient {
		for j := range cfg.Publishers {
			hs, cancelHS := context.WithTimeout(ctx, handshakeTimeout(cfg.HandshakeTimeout))
			c, err := pubDialer.Dial(hs, cfg.Targets[j%len(cfg.Targets)].WSURL)
			cancelHS()
			if err != nil {
				return res, fmt.Errorf("publisher %d: %w", j, err)
			}
			pubs = append(pubs, c)
		}
	}
	var err error
	pub, err = newPublisher(cfg.Publish, cfg.Publishers, publishSpec{
		clock: r.clock, nsp: cfg.Namespace, payloadBytes: cfg.PayloadBytes,
		audiences: []audience{{room: cfg.Room}}, pick: func(int64) int { return 0 },
	}, cfg.RedisAddr, cfg.Targets, pubs)
	if err != nil {
		return res, err
	}
	if err := pub.prepare(ctx); err != nil {
		return res, fmt.Errorf("publish path %s: %w", cfg.Publish.Path, err)
	}
	if cfg.RedisAddr != "" {
		// Every node that holds a subscriber must be subscribed to the room's
		// channel before the first send, or its first messages are lost.
		ch := wire.NewChannels(cfg.Publish.ClusterKey, cfg.Namespace)
		want := map[string]int{ch.ForBroadcast(roomList(cfg.Room)): distinctTargets(subs, len(cfg.Targets), nil)}
		if err := waitSubscribed(ctx, cfg.RedisAddr, want, cfg.ReadyTimeout); err != nil {
			errs.add(err)
		}
	}
	r.pacer = newPacer(r.clock, cfg.Rate, r.planned, pub)

	// Measure: CPU before, publish, drain, CPU after.
	win, err := openUsageWindow(ctx, cfg.PIDs, cfg.RedisAddr)
	if err != nil {
		return res, err
	}
	if cfg.OnPublish != nil {
		cfg.OnPublish(true)
	}
	prog := &fanoutProgress{fn: cfg.Progress, joined: joined, target: cfg.Subscribers, planned: r.planned,
		sent: &r.pacer.sent, dialers: []*Dialer{subDialer, pubDialer},
		snapshot: func(c *HistCounts) (delivered, expected, wrong int64) {
			for _, s := range r.subs {
				delivered += s.delivered.Load()
				s.hist.AddTo(c)
			}
			return delivered, int64(joined) * r.pacer.sent.Load(), 0
		}}
	var pr paceResult
	pr, res.Drained, res.TimedOut, res.DrainWait = publishAndDrain(ctx, r.pacer, prog, cfg.ProgressEvery, r.allDone, cfg.Drain)
	res.Sent, res.SendErrors = pr.sent, pr.failed
	if pr.sent > 0 {
		res.PublishTime = pr.last.Sub(pr.first)
	}
	if pr.err != nil && ctx.Err() == nil {
		errs.add(fmt.Errorf("publish: %w", pr.err))
	}

	if err := win.close(); err != nil {
		return res, err
	}
	if cfg.OnPublish != nil {
		cfg.OnPublish(false)
	}
	prog.phase("done")
	prog.report()

	// Stop every reader; after Wait their state is ours to read.
	for _, c := range slices.Concat(subs, pubs) {
		if c != nil {
			c.Close()
		}
	}
	subDialer.Wait()
	pubDialer.Wait()
	subs, pubs = nil, nil

	r.collect(res, subDialer, pubDialer, pr.first)
	var redisErr error
	res.Usage, redisErr = win.usage(res.Sent, res.Delivered)
	if redisErr != nil {
		errs.add(redisErr)
	}

	switch {
	case res.TimedOut:
		return res, fmt.Errorf("timed out after %v", cfg.Timeout)
	case pr.err != nil:
		return res, fmt.Errorf("publish stopped after %d/%d messages: %w", pr.sent, r.planned, pr.err)
	}
	return res, nil
}

// publishAndDrain runs the pacer to its end (phase "publish"), then, when every
// planned message went out, waits until done is closed or drain passes (phase
// "drain"); prog reports every interval throughout.
func publishAndDrain(ctx context.Context, p *pacer, prog *fanoutProgress, every time.Duration, done <-chan struct{},
	drain time.Duration) (pr paceResult, drained, timedOut bool, drainWait time.Duration) {
	pubDone := make(chan paceResult, 1)
	go func() { pubDone <- p.run(ctx) }()
	tick := time.NewTicker(every)
	defer tick.Stop()
	prog.phase("publish")
publishing:
	for {
		select {
		case pr = <-pubDone:
			break publishing
		case <-tick.C:
			prog.report()
		}
	}
	start := time.Now()
	prog.phase("drain")
	if pr.sent == p.planned {
		drained, timedOut = waitDrain(ctx, done, drain, tick.C, prog.report)
	}
	return pr, drained, timedOut, time.Since(start)
}

// waitDrain waits until done is closed (drained), the drain timeout passes, or
// ctx ends (timedOut); report runs on every tick.
func waitDrain(ctx context.Context, done <-chan struct{}, drain time.Duration, tick <-chan time.Time, report func()) (drained, timedOut bool) {
	t := time.NewTimer(drain)
	defer t.Stop()
	for {
		select {
		case <-done:
			return true, false
		case <-t.C:
			return false, false
		case <-ctx.Done():
			return false, true
		case <-tick:
			report()
		}
	}
}

// roomList is the rooms of a broadcast to room ("" is the whole namespace).
func roomList(room string) []string {
	if room == "" {
		return nil
	}
	return []string{room}
}

// distinctTargets counts the targets that hold at least one of the connected
// clients (client i on target i mod n) for which keep(i) is true (all when nil).
func distinctTargets(clients []*Client, n int, keep func(i int) bool) int {
	seen := make([]bool, n)
	count := 0
	for i, c := range clients {
		if c == nil || (keep != nil && !keep(i)) || seen[i%n] {
			continue
		}
		seen[i%n] = true
		count++
	}
	return count
}

// localAddr matches the "127.0.0.1:40312->" of a net error, which would make
// every connection's error a kind of its own.
var localAddr = regexp.MustCompile(`[0-9a-fA-F.:\[\]]+:[0-9]+->`)

// errorKind is err's message without the connection's own address.
func errorKind(err error) string { return localAddr.ReplaceAllString(err.Error(), "") }

func handshakeTimeout(d time.Duration) time.Duration {
	if d <= 0 {
		return 10 * time.Second
	}
	return d
}

// connect dials the subscribers, Parallel at a time, and has each join the
// room (waiting for the ack). It returns how many joined.
func (r *fanoutRun) connect(ctx context.Context, d *Dialer, clients []*Client, recordErr func(error)) int {
	cfg := r.cfg
	phase := connectPhase{Dialer: d, Targets: cfg.Targets, Clients: clients, Parallel: cfg.Parallel,
		OnError: recordErr, Every: cfg.ProgressEvery}
	if cfg.Room != "" {
		phase.After = func(ctx context.Context, c *Client) error { return joinRoom(ctx, c, cfg.Room, cfg.HandshakeTimeout) }
	}
	if cfg.Progress != nil {
		phase.Progress = func(p connectProgress) {
			cfg.Progress(FanoutProgress{Phase: "connect", Joined: p.Connected, Target: cfg.Subscribers,
				Planned: r.planned, Elapsed: p.Elapsed, Disconnects: d.Stats.Disconnects.Load()})
		}
	}
	cr := phase.run(ctx)
	for i, c := range clients {
		if c != nil {
			r.subs[i].joined = true
		}
	}
	return cr.Connected
}

// joinRoom has c join room through the bench namespace's "join" event and waits
// for its "ok" ack.
func joinRoom(ctx context.Context, c *Client, room string, timeout time.Duration) error {
	hs, cancel := context.WithTimeout(ctx, handshakeTimeout(timeout))
	defer cancel()
	ack, err := c.Call(hs, "join", room)
	if err == nil && string(ack) != `["ok"]` {
		err = fmt.Errorf("join: unexpected ack %s", truncate(ack))
	}
	return err
}

// collect sums the subscribers' state into res. Every reader has ended.
func (r *fanoutRun) collect(res *FanoutResult, subDialer, pubDialer *Dialer, firstSend time.Time) {
	var counts HistCounts
	minNS, maxNS, sumNS := int64(math.MaxInt64), int64(0), int64(0)
	var lastRecv int64
	for _, s := range r.subs {
		s.hist.AddTo(&counts)
		res.Delivered += s.delivered.Load()
		res.Duplicates += s.dups
		res.Reordered += s.reordered
		res.BadEvents += s.bad
		if s.delivered.Load() > 0 {
			minNS, maxNS = min(minNS, s.minNS), max(maxNS, s.maxNS)
			sumNS += s.sumNS
			lastRecv = max(lastRecv, s.lastRecv)
		}
	}
	res.Latency = counts.Summary(minNS, maxNS, sumNS)
	if n := len(r.cfg.Targets); n > 1 {
		for t := range n {
			var c HistCounts
			tr := TargetResult{Target: r.cfg.Targets[t].Base}
			minNS, maxNS, sumNS := int64(math.MaxInt64), int64(0), int64(0)
			for i := t; i < len(r.subs); i += n {
				s := r.subs[i]
				if s.joined {
					tr.Joined++
				}
				s.hist.AddTo(&c)
				tr.Delivered += s.delivered.Load()
				if s.delivered.Load() > 0 {
					minNS, maxNS = min(minNS, s.minNS), max(maxNS, s.maxNS)
					sumNS += s.sumNS
				}
			}
			tr.Expected = int64(tr.Joined) * res.Sent
			tr.Latency = c.Summary(minNS, maxNS, sumNS)
			res.PerTarget = append(res.PerTarget, tr)
		}
	}
	res.Expected = int64(res.Joined) * res.Sent
	res.Lost = res.Expected - res.Delivered
	if lastRecv > 0 && !firstSend.IsZero() {
		res.DeliveryTime = r.clock.time(lastRecv).Sub(firstSend)
	}
	res.Disconnects = subDialer.Stats.Disconnects.Load() + pubDialer.Stats.Disconnects.Load()
}

// fanoutProgress builds FanoutProgress snapshots (of fanout and users runs).
type fanoutProgress struct {
	fn             func(FanoutProgress)
	joined, target int
	planned        int64
	sent           *atomic.Int64
	dialers        []*Dialer
	// snapshot adds the receivers' histograms to c and returns the unique
	// deliveries, the deliveries due for what was sent, and wrong-user ones.
	snapshot func(c *HistCounts) (delivered, expected, wrong int64)
	name     string
	start    time.Time
	lastAt   time.Time
	lastN    int64
	lastCPU  CPUTime
	counts   HistCounts // reused: 16.5 KiB
}

func (p *fanoutProgress) phase(name string) {
	p.name = name
	p.start = time.Now()
	if p.lastAt.IsZero() {
		p.lastAt = p.start
		p.lastCPU, _ = SelfCPUTime()
	}
}

func (p *fanoutProgress) report() {
	if p.fn == nil {
		return
	}
	now := time.Now()
	p.counts = HistCounts{}
	delivered, expected, wrong := p.snapshot(&p.counts)
	snap := FanoutProgress{
		Phase: p.name, Joined: p.joined, Target: p.target,
		Sent: p.sent.Load(), Planned: p.planned, Delivered: delivered,
		Expected: expected, P99: p.counts.Percentile(99),
		Elapsed: now.Sub(p.start), WrongUser: wrong,
	}
	for _, d := range p.dialers {
		snap.Disconnects += d.Stats.Disconnects.Load()
	}
	if dt := now.Sub(p.lastAt).Seconds(); dt > 0 {
		snap.RatePerSec = float64(delivered-p.lastN) / dt
		if cpu, err := SelfCPUTime(); err == nil {
			snap.ClientCPUPercent = 100 * cpu.Sub(p.lastCPU).Total().Seconds() / dt
			p.lastCPU = cpu
		}
	}
	p.lastAt, p.lastN = now, delivered
	p.fn(snap)
}
