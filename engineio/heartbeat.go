package engineio

import (
	"sync"
	"time"
)

// wheel is a hashed timing wheel for the sessions' heartbeats (ping interval, pong
// timeout, and the wait for a closed polling session's last GET): one goroutine and
// one ticker per server instead of a runtime timer per session. A session links into
// a slot through fields of its own, so scheduling allocates nothing and an idle
// session carries three words instead of a timer (~140 bytes).
//
// Timeouts fire up to two ticks late (rounding up, then the ticker's phase), never
// early. The tick is a small fraction of the
// shortest heartbeat period (at most 250 ms): a client allows pingInterval +
// pingTimeout before it gives up on the server, so the lateness is far inside its
// slack.
//
// The goroutine runs only while something is scheduled, and stop ends it for good.
// Callbacks run on it; they must not block (a session's onTimer only queues a ping,
// or hands a close to a goroutine of its own).
type wheel struct {
	tick  time.Duration
	fire  func(s *Session, due int64) // called without mu held
	start time.Time                   // tick 0
	wg    *sync.WaitGroup             // counts the goroutine (the Server's)

	mu      sync.Mutex
	slots   []*Session // heads of circular lists, indexed by due tick & mask
	mask    int64
	done    int64 // every tick up to this one has fired
	n       int   // sessions scheduled
	running bool  // the goroutine is running (or about to)
	stopped bool
	wake    chan struct{} // buffered(1): stop's signal to the goroutine
}

// Session fields the wheel owns, guarded by wheel.mu. hbDue is written only with
// the session's mu held too, so the session reads it under its own lock.
type wheelLink struct {
	hbNext, hbPrev *Session // the slot's circular list; nil when not linked
	// hbDue is the tick of the current arming, 0 when none. It stays set after the
	// wheel unlinks a firing session, so the callback can tell a current firing from
	// one overtaken by a re-arm or a cancel.
	hbDue int64
}

const (
	maxTick  = 250 * time.Millisecond
	minTick  = time.Millisecond
	maxSlots = 4096
)

// newWheel sizes the wheel for delays up to longest, ticking at shortest/32.
func newWheel(shortest, longest time.Duration, wg *sync.WaitGroup, fire func(*Session, int64)) *wheel {
	tick := min(max(shortest/32, minTick), maxTick)
	n := int64(1)
	for n < int64(longest/tick)+2 && n < maxSlots {
		n <<= 1
	}
	return &wheel{tick: tick, fire: fire, start: time.Now(), wg: wg,
		slots: make([]*Session, n), mask: n - 1, wake: make(chan struct{}, 1)}
}

// schedule (re)arms s to fire after at least d. The caller holds s.mu. After stop it
// only cancels.
func (w *wheel) schedule(s *Session, d time.Duration) {
	// Round up, plus one: the current tick is already partly gone.
	due := int64((time.Since(w.start)+d)/w.tick) + 1
	w.mu.Lock()
	defer w.mu.Unlock()
	w.unlinkLocked(s)
	if w.stopped {
		s.hbDue = 0
		return
	}
	due = max(due, w.done+1) // a slot the goroutine has passed would wait a whole turn
	s.hbDue = due
	w.linkLocked(s)
	if !w.running {
		w.running = true
		w.wg.Add(1)
		go w.run()
	}
}

// cancel disarms s. The caller holds s.mu.
func (w *wheel) cancel(s *Session) {
	w.mu.Lock()
	w.unlinkLocked(s)
	s.hbDue = 0
	w.mu.Unlock()
}

// linkLocked adds s to the slot of s.hbDue.
func (w *wheel) linkLocked(s *Session) {
	head := &w.slots[s.hbDue&w.mask]
	if *head == nil {
		s.hbNext, s.hbPrev = s, s
		*head = s
	} else {
		s.hbNext, s.hbPrev = *head, (*head).hbPrev
		s.hbPrev.hbNext, s.hbNext.hbPrev = s, s
	}
	w.n++
}

func (w *wheel) unlinkLocked(s *Session) {
	if s.hbNext == nil {
		return
	}
	head := &w.slots[s.hbDue&w.mask]
	if s.hbNext == s {
		*head = nil
	} else {
		s.hbPrev.hbNext, s.hbNext.hbPrev = s.hbNext, s.hbPrev
		if *head == s {
			*head = s.hbNext
		}
	}
	s.hbNext, s.hbPrev = nil, nil
	w.n--
}

// stop ends the goroutine; nothing fires afterwards.
func (w *wheel) stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

type firing struct {
	s   *Session
	due int64
}

// run fires due sessions every tick until nothing is scheduled or stop.
func (w *wheel) run() {
	defer w.wg.Done()
	t := time.NewTicker(w.tick)
	defer t.Stop()
	var batch []firing
	for {
		select {
		case <-t.C:
		case <-w.wake:
		}
		w.mu.Lock()
		if w.stopped || w.n == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		batch = w.advanceLocked(int64(time.Since(w.start)/w.tick), batch)
		w.mu.Unlock()
		for i, f := range batch {
			w.fire(f.s, f.due)
			batch[i] = firing{}
		}
		batch = batch[:0]
	}
}

// advanceLocked takes the sessions due by tick now off the wheel and appends them to
// batch. It visits every slot passed since the last call (a slow pass or a
// descheduled goroutine), each at most once.
func (w *wheel) advanceLocked(now int64, batch []firing) []firing {
	for tk := max(w.done+1, now-w.mask); tk <= now; tk++ {
		slot := &w.slots[tk&w.mask]
		if *slot == nil {
			continue
		}
		// Detach the slot's list; put back what is due in a later turn.
		head := *slot
		*slot = nil
		head.hbPrev.hbNext = nil
		for s := head; s != nil; {
			next := s.hbNext
			s.hbNext, s.hbPrev = nil, nil
			w.n--
			if s.hbDue <= now {
				batch = append(batch, firing{s, s.hbDue})
			} else {
				w.linkLocked(s)
			}
			s = next
		}
	}
	w.done = max(w.done, now)
	return batch
}
