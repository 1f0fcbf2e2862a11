package engineio

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// TestWheelAdvance checks the slot bookkeeping without a clock: sessions fire at
// their due tick, not before, across turns of the wheel and after a long gap.
func TestWheelAdvance(t *testing.T) {
	var wg sync.WaitGroup
	w := newWheel(time.Second, time.Second, &wg, nil) // tick 31.25 ms, 64 slots
	if w.tick != time.Second/32 || len(w.slots) != 64 {
		t.Fatalf("tick %v, %d slots", w.tick, len(w.slots))
	}
	sessions := map[int64][]*Session{}
	arm := func(due int64) *Session {
		s := &Session{id: "s"}
		s.hbDue = due
		w.linkLocked(s)
		sessions[due] = append(sessions[due], s)
		return s
	}
	// Same slot, different turns (5, 69, 133), several per tick, and a cancelled one.
	for _, due := range []int64{5, 5, 69, 133, 6, 64, 65} {
		arm(due)
	}
	gone := arm(7)
	w.unlinkLocked(gone)
	gone.hbDue = 0
	if w.n != 7 {
		t.Fatalf("n = %d, want 7", w.n)
	}
	fired := func(now int64) []int64 {
		var dues []int64
		for _, f := range w.advanceLocked(now, nil) {
			if f.due != f.s.hbDue || f.s.hbNext != nil {
				t.Fatalf("firing %d: session due %d, still linked %v", f.due, f.s.hbDue, f.s.hbNext != nil)
			}
			dues = append(dues, f.due)
		}
		slices.Sort(dues)
		return dues
	}
	for _, step := range []struct {
		now  int64
		want []int64
	}{
		{4, nil},
		{5, []int64{5, 5}},
		{5, nil}, // nothing twice
		{7, []int64{6}},
		{66, []int64{64, 65}},
		{69, []int64{69}},
		{1000, []int64{133}}, // a gap of more than a turn: every slot visited once
	} {
		if got := fired(step.now); !slices.Equal(got, step.want) {
			t.Fatalf("advance to %d fired %v, want %v", step.now, got, step.want)
		}
	}
	if w.n != 0 || slices.ContainsFunc(w.slots, func(s *Session) bool { return s != nil }) {
		t.Fatalf("wheel not empty: n = %d", w.n)
	}
}

// TestWheelFires runs the goroutine: every armed session fires once, no earlier
// than asked, re-arming moves the firing and cancel prevents it; the goroutine ends
// when nothing is armed (goleak in TestMain) and nothing fires after stop.
func TestWheelFires(t *testing.T) {
	var wg sync.WaitGroup
	type fired struct {
		s   *Session
		due int64
		at  time.Time
	}
	got := make(chan fired, 64)
	var w *wheel
	w = newWheel(32*time.Millisecond, 64*time.Millisecond, &wg, func(s *Session, due int64) {
		s.mu.Lock()
		current := s.hbDue == due
		s.mu.Unlock()
		if current {
			got <- fired{s, due, time.Now()}
		}
	})
	arm := func(s *Session, d time.Duration) time.Time {
		s.mu.Lock()
		defer s.mu.Unlock()
		armed := time.Now()
		w.schedule(s, d)
		return armed
	}
	a, b, c := &Session{id: "a"}, &Session{id: "b"}, &Session{id: "c"}
	aAt := arm(a, 40*time.Millisecond)
	arm(b, 10*time.Millisecond)
	bAt := arm(b, 60*time.Millisecond) // re-armed: fires once, at the later time
	arm(c, 20*time.Millisecond)
	c.mu.Lock()
	w.cancel(c)
	c.mu.Unlock()

	want := map[*Session]time.Time{a: aAt.Add(40 * time.Millisecond), b: bAt.Add(60 * time.Millisecond)}
	for range 2 {
		select {
		case f := <-got:
			earliest, ok := want[f.s]
			if !ok {
				t.Fatalf("session %s fired (cancelled or twice)", f.s.id)
			}
			delete(want, f.s)
			if f.at.Before(earliest) {
				t.Errorf("session %s fired %v early", f.s.id, earliest.Sub(f.at))
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("not fired: %v", want)
		}
	}
	wg.Wait() // nothing armed: the goroutine ends by itself
	select {
	case f := <-got:
		t.Fatalf("session %s fired again", f.s.id)
	default:
	}

	// After stop nothing is armed and nothing runs.
	w.stop()
	arm(a, time.Millisecond)
	if a.hbDue != 0 || a.hbNext != nil || w.running {
		t.Fatalf("armed after stop: due %d running %v", a.hbDue, w.running)
	}
	wg.Wait()
}
