package main

// The fanout scenario: C subscribers join one room, publishers broadcast to it
// at a fixed rate, and every subscriber measures each message's latency
// (arrival − the send stamp in its payload) and checks its sequence numbers.
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
	"os"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// FanoutConfig configures one fanout run.
type FanoutConfig struct {
	Targets          []Target
	Namespace        string        // "/bench" when empty
	Room             string        // "" broadcasts to the whole namespace (null room); no join then
	Subscribers      int           // connections that receive
	Publishers       int           // connections that send; 1 when zero
	Parallel         int           // dials in flight
	Rate             float64       // messages per second, over all publishers
	Duration         time.Duration // publishing time; Rate×Duration messages (rounded) are sent
	PayloadBytes     int           // size of the payload object
	Drain            time.Duration // after the last send, how long to wait for stragglers
	Timeout          time.Duration // overall cap
	HandshakeTimeout time.Duration // per connection: dial → CONNECT ack, and join → ack
	ReadBufferSize   int           // per-connection read buffer; 4 KiB when zero
	PIDs             []int         // server processes whose CPU to sample
	// RedisAddr, when set (loopback HOST:PORT), is the cluster's Redis: its INFO
	// counters are read when the window opens and closes (FanoutResult.Redis).
	RedisAddr string
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
	return nil
}

// FanoutProgress is a snapshot of a running fanout.
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
	Targets        []string
	Namespace      string
	Room           string
	Subscribers    int // wanted
	Joined         int // connected and joined (the audience)
	Publishers     int
	Rate           float64
	Duration       time.Duration
	PayloadBytes   int // actual size of each payload object
	Planned        int64
	Sent           int64
	PublishTime    time.Duration // first send → last send
	Expected       int64         // Joined × Sent
	Delivered      int64         // unique (subscriber, seq) pairs received
	Lost           int64         // Expected − Delivered
	Duplicates     int64
	Reordered      int64 // arrivals with a lower seq than the previous one
	BadEvents      int64 // events that were not a parseable bench message of this run
	DeliveryTime   time.Duration
	Latency        LatencySummary
	Disconnects    int64 // subscribers or publishers dropped by the server
	Drained        bool  // every subscriber had every message before the drain timeout
	DrainWait      time.Duration
	Window         time.Duration // CPU sampling window: before the first send → after the drain
	ServerCPU      []PIDCPU
	ServerCPUTotal PIDCPU // sums; PID 0
	ClientCPU      PIDCPU // this process; PID is ours
	// MachineBusy is the CPU the whole machine used in the window (all cores;
	// Percent is of one core, so 200 = two cores busy), and OtherCPU what is
	// left of it after the servers and this client: other processes and the
	// kernel's own threads (ksoftirqd). A large OtherCPU means the run shared
	// the machine with something else. Zero when /proc/stat is unreadable.
	MachineBusy PIDCPU
	OtherCPU    PIDCPU
	Cores       int
	// Redis is what the cluster's Redis did in the window (RedisAddr); its CPU is
	// not part of OtherCPU. Nil without RedisAddr.
	Redis *RedisUsage
	// PerTarget splits delivery and latency by the target URL the subscribers
	// connected to (subscriber i uses target i mod len(Targets)); nil with one target.
	PerTarget []TargetResult
	Errors    map[string]int
	TimedOut  bool
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
	sent    atomic.Int64
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
		Namespace: cfg.Namespace, Room: cfg.Room, Subscribers: cfg.Subscribers, Publishers: cfg.Publishers,
		Rate: cfg.Rate, Duration: cfg.Duration, Planned: r.planned, Errors: map[string]int{},
		PayloadBytes: len(AppendPayload(nil, time.Now().UnixNano(), r.planned-1, cfg.PayloadBytes)),
	}
	for _, t := range cfg.Targets {
		res.Targets = append(res.Targets, t.Base)
	}
	var errMu sync.Mutex
	recordErr := func(err error) {
		errMu.Lock()
		defer errMu.Unlock()
		msg := errorKind(err)
		if _, ok := res.Errors[msg]; !ok && len(res.Errors) >= maxErrorKinds {
			msg = "(other errors)"
		}
		res.Errors[msg]++
	}

	subDialer := &Dialer{Namespace: cfg.Namespace, HandshakeTimeout: cfg.HandshakeTimeout,
		ReadBufferSize: cfg.ReadBufferSize, OnEvent: r.onEvent}
	pubDialer := &Dialer{Namespace: cfg.Namespace, HandshakeTimeout: cfg.HandshakeTimeout}
	subs := make([]*Client, cfg.Subscribers)
	var pubs []*Client
	defer func() {
		for _, c := range slices.Concat(subs, pubs) {
			if c != nil {
				c.Close()
			}
		}
		subDialer.Wait()
		pubDialer.Wait()
	}()

	// Connect and join.
	joined := r.connect(ctx, subDialer, subs, recordErr, res)
	res.Joined = joined
	if ctx.Err() != nil {
		res.TimedOut = true
		return res, fmt.Errorf("timed out connecting: %d/%d subscribers joined", joined, cfg.Subscribers)
	}
	if joined == 0 {
		return res, errors.New("no subscriber could connect and join")
	}
	r.pending.Store(int64(joined))
	for j := range cfg.Publishers {
		hs, cancelHS := context.WithTimeout(ctx, handshakeTimeout(cfg.HandshakeTimeout))
		c, err := pubDialer.Dial(hs, cfg.Targets[j%len(cfg.Targets)].WSURL)
		cancelHS()
		if err != nil {
			return res, fmt.Errorf("publisher %d: %w", j, err)
		}
		pubs = append(pubs, c)
	}

	// Measure: CPU before, publish, drain, CPU after.
	var redisBefore RedisInfo
	if cfg.RedisAddr != "" {
		var err error
		if redisBefore, err = SampleRedis(ctx, cfg.RedisAddr); err != nil {
			return res, err
		}
	}
	srvBefore, err := sampleCPU(cfg.PIDs)
	if err != nil {
		return res, err
	}
	selfBefore, err := SelfCPUTime()
	if err != nil {
		return res, err
	}
	machBefore, machErr := ReadMachineCPU()
	if cfg.OnPublish != nil {
		cfg.OnPublish(true)
	}
	windowStart := time.Now()

	type pubResult struct {
		sent        int64
		first, last time.Time
		err         error
	}
	pubDone := make(chan pubResult, 1)
	go func() {
		var pr pubResult
		pr.sent, pr.first, pr.last, pr.err = r.publish(ctx, pubs)
		pubDone <- pr
	}()

	prog := &fanoutProgress{r: r, fn: cfg.Progress, joined: joined, dialers: []*Dialer{subDialer, pubDialer}}
	tick := time.NewTicker(cfg.ProgressEvery)
	defer tick.Stop()
	var pr pubResult
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
	res.Sent = pr.sent
	if pr.sent > 0 {
		res.PublishTime = pr.last.Sub(pr.first)
	}
	if pr.err != nil && ctx.Err() == nil {
		recordErr(fmt.Errorf("publish: %w", pr.err))
	}

	// Drain: every subscriber has every message, or the drain timeout.
	drainStart := time.Now()
	prog.phase("drain")
	drain := time.NewTimer(cfg.Drain)
	defer drain.Stop()
	if pr.sent == r.planned {
	draining:
		for {
			select {
			case <-r.allDone:
				res.Drained = true
				break draining
			case <-drain.C:
				break draining
			case <-ctx.Done():
				res.TimedOut = true
				break draining
			case <-tick.C:
				prog.report()
			}
		}
	}
	res.DrainWait = time.Since(drainStart)

	srvAfter, err := sampleCPU(cfg.PIDs)
	if err != nil {
		return res, err
	}
	selfAfter, err := SelfCPUTime()
	if err != nil {
		return res, err
	}
	machAfter, err := ReadMachineCPU()
	if machErr == nil {
		machErr = err
	}
	var redisAfter RedisInfo
	var redisErr error
	if cfg.RedisAddr != "" {
		// Not ctx: a timed-out run still gets its Redis figures.
		redisAfter, redisErr = SampleRedis(context.Background(), cfg.RedisAddr)
	}
	res.Window = time.Since(windowStart)
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
	cpu := func(pid int, used CPUTime) PIDCPU {
		p := PIDCPU{PID: pid, UserSec: used.User.Seconds(), SysSec: used.Sys.Seconds(), TotalSec: used.Total().Seconds()}
		if res.Window > 0 {
			p.Percent = 100 * p.TotalSec / res.Window.Seconds()
		}
		if res.Delivered > 0 {
			p.USPerDelivery = 1e6 * p.TotalSec / float64(res.Delivered)
		}
		return p
	}
	var total CPUTime
	for i, pid := range cfg.PIDs {
		used := srvAfter[i].Sub(srvBefore[i])
		total.User += used.User
		total.Sys += used.Sys
		res.ServerCPU = append(res.ServerCPU, cpu(pid, used))
	}
	res.ServerCPUTotal = cpu(0, total)
	res.ClientCPU = cpu(os.Getpid(), selfAfter.Sub(selfBefore))
	var redisCPU time.Duration
	switch {
	case cfg.RedisAddr == "":
	case redisErr != nil:
		recordErr(redisErr)
	default:
		res.Redis = redisUsage(cfg.RedisAddr, redisBefore, redisAfter, res.Window, res.Sent, res.Delivered)
		redisCPU = redisAfter.CPU.Sub(redisBefore.CPU).Total()
	}
	if machErr == nil {
		busy := machAfter.Busy - machBefore.Busy
		res.Cores = machAfter.Cores
		res.MachineBusy = cpu(0, CPUTime{User: busy})
		other := max(busy-total.Total()-selfAfter.Sub(selfBefore).Total()-redisCPU, 0)
		res.OtherCPU = cpu(0, CPUTime{User: other})
	}

	switch {
	case res.TimedOut:
		return res, fmt.Errorf("timed out after %v", cfg.Timeout)
	case pr.err != nil:
		return res, fmt.Errorf("publish stopped after %d/%d messages: %w", pr.sent, r.planned, pr.err)
	}
	return res, nil
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
func (r *fanoutRun) connect(ctx context.Context, d *Dialer, clients []*Client, recordErr func(error), res *FanoutResult) int {
	cfg := r.cfg
	var next, joined, failed atomic.Int64
	var workers sync.WaitGroup
	for range min(cfg.Parallel, cfg.Subscribers) {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.Subscribers || ctx.Err() != nil {
					return
				}
				c, err := d.DialIndex(ctx, cfg.Targets[i%len(cfg.Targets)].WSURL, i)
				if err == nil && cfg.Room != "" {
					hs, cancel := context.WithTimeout(ctx, handshakeTimeout(cfg.HandshakeTimeout))
					var ack []byte
					ack, err = c.Call(hs, "join", cfg.Room)
					cancel()
					if err == nil && string(ack) != `["ok"]` {
						err = fmt.Errorf("join: unexpected ack %s", truncate(ack))
					}
					if err != nil {
						c.Close()
					}
				}
				if err != nil {
					failed.Add(1)
					recordErr(err)
					continue
				}
				clients[i] = c
				r.subs[i].joined = true
				joined.Add(1)
			}
		}()
	}
	workersDone := make(chan struct{})
	go func() { workers.Wait(); close(workersDone) }()
	start := time.Now()
	report := func(done bool) {
		if cfg.Progress != nil {
			cfg.Progress(FanoutProgress{Phase: "connect", Joined: int(joined.Load()), Target: cfg.Subscribers,
				Planned: r.planned, Elapsed: time.Since(start), Disconnects: d.Stats.Disconnects.Load()})
		}
	}
	tick := time.NewTicker(cfg.ProgressEvery)
	defer tick.Stop()
	for {
		select {
		case <-workersDone:
			report(true)
			return int(joined.Load())
		case <-tick.C:
			report(false)
		}
	}
}

// publish sends the planned messages at cfg.Rate, message k going out at
// k/Rate after the start on publisher k mod len(pubs). A ticker (one tick per
// message, but at least 1 ms apart) wakes it; each wake sends whatever is due,
// so a late wake catches up instead of stretching the run.
func (r *fanoutRun) publish(ctx context.Context, pubs []*Client) (sent int64, first, last time.Time, err error) {
	frame := NewBroadcastFrame(r.cfg.Namespace, r.cfg.Room, r.cfg.PayloadBytes)
	interval := max(time.Duration(float64(time.Second)/r.cfg.Rate), time.Millisecond)
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	start := time.Now()
	for sent < r.planned {
		due := min(r.planned, int64(time.Since(start).Seconds()*r.cfg.Rate)+1)
		for ; sent < due; sent++ {
			now := r.clock.now()
			if sent == 0 {
				first = r.clock.time(now)
			}
			if err := pubs[sent%int64(len(pubs))].WriteText(frame.Append(now, sent)); err != nil {
				return sent, first, last, err
			}
			last = r.clock.time(now)
			r.sent.Store(sent + 1)
		}
		if sent == r.planned {
			break
		}
		select {
		case <-ticker.C:
		case <-ctx.Done():
			return sent, first, last, ctx.Err()
		}
	}
	return sent, first, last, nil
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

// fanoutProgress builds FanoutProgress snapshots.
type fanoutProgress struct {
	r       *fanoutRun
	fn      func(FanoutProgress)
	joined  int
	dialers []*Dialer
	name    string
	start   time.Time
	lastAt  time.Time
	lastN   int64
	lastCPU CPUTime
	counts  HistCounts // reused: 16.5 KiB
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
	var delivered int64
	p.counts = HistCounts{}
	for _, s := range p.r.subs {
		delivered += s.delivered.Load()
		s.hist.AddTo(&p.counts)
	}
	sent := p.r.sent.Load()
	snap := FanoutProgress{
		Phase: p.name, Joined: p.joined, Target: p.r.cfg.Subscribers,
		Sent: sent, Planned: p.r.planned, Delivered: delivered,
		Expected: int64(p.joined) * sent, P99: p.counts.Percentile(99),
		Elapsed: now.Sub(p.start),
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
