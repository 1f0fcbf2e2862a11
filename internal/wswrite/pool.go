package wswrite

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"time"
)

// Flusher is a connection with frames queued. Flush writes its backlog with b (empty
// on entry, to be left empty) in the given round, which the connection remembers for
// its next Add, and reports whether more frames were queued meanwhile, in which case
// it joins the next round. A Flusher that cannot finish without blocking hands the
// rest to a goroutine of its own and returns false.
type Flusher interface {
	Flush(b *Batch, round uint64) (again bool)
}

// Pool is the line of connections waiting to be written and the goroutines that
// write them, in rounds. A round writes each connection in its line once; a connection
// that gets frames while a round is under way joins it unless it was already written
// in it, in which case it waits for the next round. The next round begins when this
// one is done, but not before delay after this one began. Under load a connection's
// frames therefore gather into one write per round, and with a delay a connection is
// written at most once per delay. An adaptive Pool applies its delay only while it is
// busy (see Options.Adaptive). The zero Pool is not usable; use NewPool.
type Pool struct {
	max      int
	delay    time.Duration
	adaptive bool
	wg       *sync.WaitGroup

	mu      sync.Mutex
	line    []Flusher // this round's connections; line[head:] are not taken yet
	head    int
	next    []Flusher // the next round's
	active  bool      // a round is under way (workers running)
	armed   bool      // a timer will begin the next round
	began   time.Time // when the last round began
	round   uint64    // the number of the last round begun (0: none yet)
	running int       // workers of this round still running
	spare   []*Batch

	// The adaptive pool's load window: what its workers wrote since winStart.
	delaying  bool // the delay applies (always true when not adaptive)
	onSwitch  func(bool, float64)
	winStart  time.Time
	winFrames int           // frames written
	winWrites int           // writes (flushes that wrote something)
	winBusy   time.Duration // time the workers ran
}

// Options configure a Pool.
type Options struct {
	// Workers is the most flush goroutines at a time; GOMAXPROCS when ≤ 0.
	Workers int
	// Delay is the least time between the beginnings of two rounds.
	Delay time.Duration
	// Adaptive applies Delay only while the pool is busy: from when writing each frame
	// on its own would keep the workers busy at least half the time (LoadOn) until
	// that share falls to a quarter (LoadOff). The share is estimated over windows of
	// at least LoadWindow as frames written × the measured time per write ÷ (the
	// window × Workers); it does not fall when the delay packs frames into fewer
	// writes, so the delay does not switch itself off. A lightly loaded pool thus
	// writes every frame at once and a busy one writes each connection at most once
	// per Delay.
	Adaptive bool
	// OnSwitch, if set, is told when an adaptive pool starts or stops delaying, with
	// the load that decided it. It is called with the pool's lock held and must not
	// call the pool.
	OnSwitch func(delaying bool, load float64)
}

// The adaptive pool's thresholds and the least length of its load window.
const (
	LoadOn     = 0.5
	LoadOff    = 0.25
	LoadWindow = 100 * time.Millisecond
)

// load is the share of workers × elapsed that writes of one frame each would take,
// at busy/writes per write.
func load(frames, writes int, busy, elapsed time.Duration, workers int) float64 {
	if writes == 0 || elapsed <= 0 || workers <= 0 {
		return 0
	}
	perWrite := float64(busy) / float64(writes)
	return float64(frames) * perWrite / (float64(elapsed) * float64(workers))
}

// nextDelaying is whether an adaptive pool delays rounds after a window at load l,
// having delayed them (was) during it.
func nextDelaying(was bool, l float64) bool {
	if was {
		return l > LoadOff
	}
	return l >= LoadOn
}

// NewPool returns a Pool configured by o, counting each of its goroutines (and a
// pending round timer) in wg. Goroutines exist only while there are connections to
// write.
func NewPool(o Options, wg *sync.WaitGroup) *Pool {
	workers := o.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	adaptive := o.Adaptive && o.Delay > 0 // nothing to decide without a delay
	return &Pool{max: workers, delay: o.Delay, adaptive: adaptive, delaying: !adaptive, onSwitch: o.OnSwitch, wg: wg}
}

// Delaying reports whether the pool's delay applies now (always, unless adaptive).
func (p *Pool) Delaying() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.delaying
}

// Add puts f in line; last is the round f was last written in (as passed to its
// Flush; 0 if never). The caller makes sure f is in line at most once (a connection's
// "flushing" flag, set under its own lock).
func (p *Pool) Add(f Flusher, last uint64) {
	p.mu.Lock()
	switch {
	case p.active && last != p.round:
		// The round under way takes it, with the workers it began with: a round begun
		// for a broadcast's first recipient is written by one goroutine while the
		// broadcaster goes on. (Starting more workers as the line grows measured worse:
		// p99 233–245 ms instead of 88–106 at 1 000 msg/s × 1 000 sockets, BENCHMARKS.md.)
		p.line = append(p.line, f)
	default:
		p.next = append(p.next, f)
		if !p.active && !p.armed {
			p.beginLocked()
		}
	}
	p.mu.Unlock()
}

// beginLocked begins the next round now, or arms a timer for when the delay since the
// last one has passed. p.mu must be held, no round may be active and none armed.
func (p *Pool) beginLocked() {
	if p.delay > 0 && p.delayingLocked() {
		if wait := p.delay - time.Since(p.began); wait > 0 {
			p.armed = true
			p.wg.Add(1) // the timer counts as a goroutine, so the WaitGroup never idles between rounds
			time.AfterFunc(wait, p.fire)
			return
		}
	}
	p.began = time.Now()
	p.round++
	p.line, p.next = p.next, p.line[:0]
	p.head = 0
	p.active = true
	n := min(p.max, len(p.line))
	p.running = n
	p.wg.Add(n)
	for range n {
		go p.work()
	}
}

// delayingLocked closes an adaptive pool's load window once it is LoadWindow long and
// says whether the delay applies. p.mu must be held.
func (p *Pool) delayingLocked() bool {
	if !p.adaptive {
		return true
	}
	now := time.Now()
	if p.winStart.IsZero() {
		p.winStart = now
	}
	if elapsed := now.Sub(p.winStart); elapsed >= LoadWindow {
		l := load(p.winFrames, p.winWrites, p.winBusy, elapsed, p.max)
		if next := nextDelaying(p.delaying, l); next != p.delaying {
			p.delaying = next
			if p.onSwitch != nil {
				p.onSwitch(next, l)
			}
		}
		p.winStart, p.winFrames, p.winWrites, p.winBusy = now, 0, 0, 0
	}
	return p.delaying
}

func (p *Pool) fire() {
	p.mu.Lock()
	p.armed = false
	if !p.active && len(p.next) > 0 {
		p.beginLocked()
	}
	p.mu.Unlock()
	p.wg.Done()
}

func (p *Pool) work() {
	defer p.wg.Done()
	var start time.Time
	if p.adaptive {
		start = time.Now()
	}
	frames, writes := 0, 0
	p.mu.Lock()
	b := p.batchLocked()
	for p.head < len(p.line) {
		f := p.line[p.head]
		p.line[p.head] = nil
		p.head++
		round := p.round
		p.mu.Unlock()
		added := b.added
		again := f.Flush(b, round)
		if n := b.added - added; n > 0 {
			frames += n
			writes++
		}
		p.mu.Lock()
		if again {
			p.next = append(p.next, f)
		}
	}
	if p.adaptive {
		p.winFrames += frames
		p.winWrites += writes
		p.winBusy += time.Since(start)
	}
	p.spare = append(p.spare, b)
	p.running--
	if p.running == 0 {
		p.active = false
		clear(p.line)
		p.line, p.head = p.line[:0], 0
		if len(p.next) > 0 && !p.armed {
			p.beginLocked()
		}
	}
	p.mu.Unlock()
}

// batchLocked returns a spare Batch or a new one. p.mu must be held.
func (p *Pool) batchLocked() *Batch {
	if n := len(p.spare); n > 0 {
		b := p.spare[n-1]
		p.spare[n-1] = nil
		p.spare = p.spare[:n-1]
		return b
	}
	return new(Batch)
}

// LogSwitches returns an Options.OnSwitch that logs each switch at debug level under
// the given message, with the delay and the load that decided it.
func LogSwitches(log *slog.Logger, msg string, delay time.Duration) func(bool, float64) {
	return func(delaying bool, load float64) {
		log.LogAttrs(context.Background(), slog.LevelDebug, msg, slog.Bool("delaying", delaying),
			slog.Duration("delay", delay), slog.Float64("load", load))
	}
}
