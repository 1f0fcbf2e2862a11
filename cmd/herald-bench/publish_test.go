package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/testredis"
)

// fakePublisher records what it is asked to send; failAt, when ≥ 0, fails that seq.
type fakePublisher struct {
	n      int
	clock  stampClock
	failAt int64
	mu     sync.Mutex
	seqs   map[int64]int // seq → sends
	byW    map[int]bool  // workers that sent
}

func (f *fakePublisher) workers() int                  { return f.n }
func (f *fakePublisher) prepare(context.Context) error { return nil }
func (f *fakePublisher) close()                        {}
func (f *fakePublisher) send(_ context.Context, w int, seq int64) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.seqs == nil {
		f.seqs, f.byW = map[int64]int{}, map[int]bool{}
	}
	if w < 0 || w >= f.n {
		return 0, errors.New("bad worker")
	}
	f.seqs[seq]++
	f.byW[w] = true
	if seq == f.failAt {
		return 0, errors.New("refused")
	}
	return f.clock.now(), nil
}

func TestPacerSendsEveryMessageOnce(t *testing.T) {
	for _, workers := range []int{1, 4} {
		clock := newStampClock()
		f := &fakePublisher{n: workers, clock: clock, failAt: -1}
		p := newPacer(clock, 1000, 50, f)
		var onSent atomic.Int64
		p.onSent = func(int64) { onSent.Add(1) }
		res := p.run(context.Background())
		if res.err != nil || res.sent != 50 || res.failed != 0 || onSent.Load() != 50 || p.sent.Load() != 50 {
			t.Fatalf("%d workers: %+v, onSent %d", workers, res, onSent.Load())
		}
		for seq := range int64(50) {
			if f.seqs[seq] != 1 || !p.wasSent(seq) {
				t.Errorf("%d workers: seq %d sent %d times, wasSent %v", workers, seq, f.seqs[seq], p.wasSent(seq))
			}
		}
		if p.wasSent(50) || p.wasSent(-1) {
			t.Errorf("%d workers: out of range seqs count as sent", workers)
		}
		if res.first.IsZero() || res.last.Before(res.first) {
			t.Errorf("%d workers: first %v last %v", workers, res.first, res.last)
		}
	}
}

// Paced: 20 messages at 100/s take about 190 ms, not a burst.
func TestPacerPaces(t *testing.T) {
	clock := newStampClock()
	res := newPacer(clock, 100, 20, &fakePublisher{n: 1, clock: clock, failAt: -1}).run(context.Background())
	if d := res.last.Sub(res.first); res.sent != 20 || d < 100*time.Millisecond {
		t.Errorf("sent %d over %v, want 20 over about 190ms", res.sent, d)
	}
}

func TestPacerStopsAtFirstError(t *testing.T) {
	for _, workers := range []int{1, 3} {
		clock := newStampClock()
		f := &fakePublisher{n: workers, clock: clock, failAt: 5}
		p := newPacer(clock, 1000, 40, f)
		res := p.run(context.Background())
		if res.err == nil || !strings.Contains(res.err.Error(), "refused") || res.failed != 1 || p.wasSent(5) {
			t.Fatalf("%d workers: %+v", workers, res)
		}
		// Workers already sending finish; nothing is handed out after the failure
		// is seen, so at most the queue (4 per worker) and the in-flight sends follow.
		if res.sent < 5 || res.sent > 5+5*int64(workers) || res.sent != p.sent.Load() {
			t.Errorf("%d workers: sent %d after a failure at seq 5", workers, res.sent)
		}
	}
}

func TestPacerContext(t *testing.T) {
	clock := newStampClock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, workers := range []int{1, 2} {
		res := newPacer(clock, 10, 100, &fakePublisher{n: workers, clock: clock, failAt: -1}).run(ctx)
		if !errors.Is(res.err, context.Canceled) || res.sent == 100 {
			t.Errorf("%d workers: %+v", workers, res)
		}
	}
}

func TestAPIEmitURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:3000":     "http://127.0.0.1:3000/api/v1/emit",
		"127.0.0.1:3001":            "http://127.0.0.1:3001/api/v1/emit",
		"http://localhost:3000/x/y": "http://127.0.0.1:3000/api/v1/emit",
		"http://[::1]:3000":         "http://[::1]:3000/api/v1/emit",
	} {
		if got, err := apiEmitURL(in); err != nil || got != want {
			t.Errorf("apiEmitURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := apiEmitURL("http://10.1.1.1:3000"); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Errorf("non-loopback API URL: %v", err)
	}
}

// Nobody subscribes: the wait gives up after its timeout and names the channel.
func TestWaitSubscribedTimeout(t *testing.T) {
	redis := testredis.Start(t)
	err := waitSubscribed(context.Background(), redis.Addr, map[string]int{"socket.io#/bench#user:u1#": 1}, 100*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "socket.io#/bench#user:u1# wants 1") {
		t.Fatalf("waitSubscribed = %v", err)
	}
	if err := waitSubscribed(context.Background(), redis.Addr, map[string]int{"nobody#": 0}, time.Second); err != nil {
		t.Errorf("a channel that wants no subscriber: %v", err)
	}
}
