package wswrite

import (
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
// written at most once per delay. The zero Pool is not usable; use NewPool.
type Pool struct {
	max   int
	delay time.Duration
	wg    *sync.WaitGroup

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
}

// NewPool returns a Pool that runs at most workers flush goroutines at a time
// (GOMAXPROCS when workers ≤ 0) with rounds at least delay apart, counting each
// goroutine (and a pending round timer) in wg. Goroutines exist only while there are
// connections to write.
func NewPool(workers int, delay time.Duration, wg *sync.WaitGroup) *Pool {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return &Pool{max: workers, delay: delay, wg: wg}
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
	if p.delay > 0 {
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
	p.mu.Lock()
	b := p.batchLocked()
	for p.head < len(p.line) {
		f := p.line[p.head]
		p.line[p.head] = nil
		p.head++
		round := p.round
		p.mu.Unlock()
		again := f.Flush(b, round)
		p.mu.Lock()
		if again {
			p.next = append(p.next, f)
		}
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
