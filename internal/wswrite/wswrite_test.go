package wswrite

import (
	"bytes"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func rawOf(t *testing.T, c *net.TCPConn) syscall.RawConn {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// chunks returns n distinct slices of size bytes and their concatenation.
func chunks(n, size int) ([][]byte, []byte) {
	var all []byte
	out := make([][]byte, n)
	for i := range out {
		p := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		p[0] = byte(i)
		out[i] = p
		all = append(all, p...)
	}
	return out, all
}

func TestConsume(t *testing.T) {
	var b Batch
	b.Add([]byte("abc"))
	b.Add(nil) // ignored
	b.Add([]byte("defg"))
	b.Add([]byte("h"))
	if b.Len() != 8 {
		t.Fatalf("Len %d, want 8", b.Len())
	}
	b.consume(4)
	var rest Batch
	b.MoveTo(&rest)
	if b.Len() != 0 || len(b.bufs) != 0 {
		t.Fatalf("MoveTo left %d bytes", b.Len())
	}
	var got []byte
	for _, p := range rest.bufs[rest.off:] {
		got = append(got, p...)
	}
	if string(got) != "efgh" {
		t.Fatalf("after consuming 4: %q, want efgh", got)
	}
	rest.consume(4)
	if rest.Len() != 0 {
		t.Fatalf("Len %d after consuming all", rest.Len())
	}
}

// TestTryWriteAll: a batch that fits in the socket buffer goes out whole, in order,
// over several writev calls when it has more buffers than IOV_MAX.
func TestTryWriteAll(t *testing.T) {
	client, server := tcpPair(t)
	ps, want := chunks(3000, 7) // 3 000 buffers: three writev calls of ≤ 1 024
	var b Batch
	for _, p := range ps {
		b.Add(p)
	}
	done, err := b.TryWrite(rawOf(t, server))
	if err != nil || !done {
		t.Fatalf("TryWrite = %v, %v; want done", done, err)
	}
	if b.Len() != 0 {
		t.Fatalf("%d bytes left after a complete write", b.Len())
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("bytes arrived out of order or changed")
	}
}

// TestTryWriteFull: when the peer reads nothing, TryWrite stops at a full socket
// without blocking and keeps the rest, which a blocking Write finishes once the peer
// reads; the peer gets every byte in order.
func TestTryWriteFull(t *testing.T) {
	client, server := tcpPair(t)
	_ = server.SetWriteBuffer(64 << 10)
	_ = client.SetReadBuffer(64 << 10)
	ps, want := chunks(256, 64<<10) // 16 MiB, far more than the socket buffers
	var b Batch
	for _, p := range ps {
		b.Add(p)
	}
	start := time.Now()
	done, err := b.TryWrite(rawOf(t, server))
	if err != nil || done {
		t.Fatalf("TryWrite = %v, %v; want a partial write", done, err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("TryWrite blocked")
	}
	left := b.Len()
	if left == 0 || left >= len(want) {
		t.Fatalf("%d of %d bytes left: want a partial write", left, len(want))
	}
	got := make(chan []byte, 1)
	go func() {
		buf := make([]byte, len(want))
		_, _ = io.ReadFull(client, buf)
		got <- buf
	}()
	if err := b.Write(server, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(<-got, want) {
		t.Fatal("bytes arrived out of order or changed")
	}
	// Write clears its deadline: a later non-blocking write must not find it expired.
	b.Add([]byte("x"))
	if err := b.Write(server, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond) // what is tested: a kept 1 ms deadline would be past
	b.Add([]byte("after"))
	if done, err := b.TryWrite(rawOf(t, server)); err != nil || !done {
		t.Fatalf("TryWrite after Write = %v, %v", done, err)
	}
	tail := make([]byte, 6)
	if _, err := io.ReadFull(client, tail); err != nil || string(tail) != "xafter" {
		t.Fatalf("read %q, %v", tail, err)
	}
}

func TestTryWriteClosed(t *testing.T) {
	_, server := tcpPair(t)
	rc := rawOf(t, server)
	server.Close()
	var b Batch
	b.Add([]byte("x"))
	if done, err := b.TryWrite(rc); err == nil || done {
		t.Fatalf("TryWrite on a closed socket = %v, %v; want an error", done, err)
	}
	if done, err := (&Batch{}).TryWrite(nil); !done || err != nil {
		t.Fatalf("empty batch: %v, %v", done, err)
	}
	b.Reset()
	b.Add([]byte("x"))
	if done, err := b.TryWrite(nil); done || err != nil {
		t.Fatalf("nil RawConn: %v, %v; want not done, no error", done, err)
	}
}

// counter is a Flusher that records its flushes.
type counter struct {
	p       *Pool
	left    atomic.Int32 // flushes that report "again"
	flushes atomic.Int32
	at      []time.Time
	began   []time.Time // the pool's round start at each flush (when p is set)
	rounds  []uint64
	mu      sync.Mutex
	running *atomic.Int32
	peak    *atomic.Int32
	done    chan struct{}
}

func (c *counter) Flush(b *Batch, round uint64) bool {
	c.mu.Lock()
	c.rounds = append(c.rounds, round)
	c.mu.Unlock()
	if c.running != nil {
		n := c.running.Add(1)
		for {
			p := c.peak.Load()
			if n <= p || c.peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond) // overlap with the other workers
		defer c.running.Add(-1)
	}
	if b.Len() != 0 {
		panic("batch not empty on entry")
	}
	c.mu.Lock()
	c.at = append(c.at, time.Now())
	if c.p != nil {
		// No round begins while this one's worker is in Flush, so began is stable.
		c.began = append(c.began, c.p.began)
	}
	c.mu.Unlock()
	c.flushes.Add(1)
	if c.left.Add(-1) >= 0 {
		return true
	}
	close(c.done)
	return false
}

func TestPoolWorkersBounded(t *testing.T) {
	var wg sync.WaitGroup
	p := NewPool(Options{Workers: 3}, &wg)
	var running, peak atomic.Int32
	cs := make([]*counter, 50)
	for i := range cs {
		cs[i] = &counter{running: &running, peak: &peak, done: make(chan struct{})}
		cs[i].left.Store(2)
		p.Add(cs[i], 0)
	}
	for _, c := range cs {
		<-c.done
	}
	wg.Wait()
	for i, c := range cs {
		if n := c.flushes.Load(); n != 3 {
			t.Fatalf("flusher %d flushed %d times, want 3 (twice again, then done)", i, n)
		}
	}
	if pk := peak.Load(); pk < 2 || pk > 3 {
		t.Fatalf("peak concurrent flushes %d, want 2..3", pk)
	}
	if len(p.spare) == 0 || len(p.spare) > 3 {
		t.Fatalf("%d spare batches, want 1..3", len(p.spare))
	}
}

// TestPoolDelay: with a delay, a flusher that asks again is flushed no sooner than the
// delay after the round it was in began.
func TestPoolDelay(t *testing.T) {
	var wg sync.WaitGroup
	const delay = 30 * time.Millisecond
	p := NewPool(Options{Workers: 2, Delay: delay}, &wg)
	c := &counter{p: p, done: make(chan struct{})}
	c.left.Store(3)
	p.Add(c, 0)
	<-c.done
	wg.Wait() // includes the timers
	if len(c.began) != 4 {
		t.Fatalf("%d flushes, want 4", len(c.began))
	}
	for i := 1; i < len(c.began); i++ {
		if d := c.began[i].Sub(c.began[i-1]); d < delay {
			t.Fatalf("round %d began %v after the one before, want ≥ %v", i, d, delay)
		}
	}
	for i := 1; i < len(c.rounds); i++ {
		if c.rounds[i] <= c.rounds[i-1] {
			t.Fatalf("rounds %v: a flusher that asks again must be in a later round", c.rounds)
		}
	}
}

// TestPoolJoinsRoundUnderWay: connections added while a round is under way are written
// in it (a broadcast's sockets go out together, with no delay), unless they were
// already written in it.
func TestPoolJoinsRoundUnderWay(t *testing.T) {
	var wg sync.WaitGroup
	p := NewPool(Options{Workers: 1, Delay: time.Hour}, &wg)
	release := make(chan struct{})
	first := &blocker{release: release, entered: make(chan uint64, 1)}
	p.Add(first, 0)
	r := <-first.entered // round 1 is under way, its only worker held in first.Flush
	late := &counter{done: make(chan struct{})}
	p.Add(late, 0) // never written: joins round 1
	again := &counter{done: make(chan struct{})}
	p.Add(again, r) // already written in round 1: waits for round 2 (an hour away)
	close(release)
	<-late.done
	if late.rounds[0] != r {
		t.Fatalf("late joiner written in round %d, want %d", late.rounds[0], r)
	}
	select {
	case <-again.done:
		t.Fatal("a connection written in round 1 was written again before the delay")
	default:
	}
	p.mu.Lock()
	waiting := len(p.next)
	p.mu.Unlock()
	if waiting != 1 {
		t.Fatalf("%d waiting for the next round, want 1", waiting)
	}
	// (The round-2 timer stays armed; nothing waits for this pool's WaitGroup.)
}

// blocker is a Flusher whose Flush waits for release.
type blocker struct {
	release chan struct{}
	entered chan uint64
}

func (b *blocker) Flush(_ *Batch, round uint64) bool {
	b.entered <- round
	<-b.release
	return false
}

func TestLoad(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		frames, writes int
		busy, elapsed  time.Duration
		workers        int
		want           float64
	}{
		{0, 0, 0, 100 * ms, 2, 0},
		{100, 100, 50 * ms, 100 * ms, 1, 0.5},   // one frame a write, half the time busy
		{1000, 100, 10 * ms, 100 * ms, 2, 0.5},  // ten frames a write: alone they would take 10× the time
		{1000, 100, 10 * ms, 100 * ms, 4, 0.25}, // twice the workers, half the share
		{5, 5, ms, 0, 1, 0},
	} {
		if got := load(c.frames, c.writes, c.busy, c.elapsed, c.workers); got < c.want-1e-9 || got > c.want+1e-9 {
			t.Errorf("load(%d frames, %d writes, %v busy, %v, %d workers) = %v, want %v",
				c.frames, c.writes, c.busy, c.elapsed, c.workers, got, c.want)
		}
	}
	for _, c := range []struct {
		was  bool
		l    float64
		want bool
	}{
		{false, 0.49, false}, {false, LoadOn, true}, {true, 0.3, true}, {true, LoadOff, false}, {true, 0, false},
	} {
		if got := nextDelaying(c.was, c.l); got != c.want {
			t.Errorf("nextDelaying(%v, %v) = %v, want %v", c.was, c.l, got, c.want)
		}
	}
}

// phased is a Flusher that asks to be written again every time. While heavy, frames
// come in at one per cost, as many as have come since its last write go out in each
// write, and a write takes cost: written one at a time they would keep a worker busy.
// Otherwise it writes nothing.
type phased struct {
	p     *Pool
	frame []byte
	cost  time.Duration
	step  func(round uint64, began time.Time, delaying bool) (heavy, again bool)
	heavy bool
	last  time.Time
}

func (f *phased) Flush(b *Batch, round uint64) bool {
	if f.last.IsZero() {
		f.last = time.Now()
	}
	if f.heavy {
		for range max(1, int(time.Since(f.last)/f.cost)) {
			b.Add(f.frame)
		}
		time.Sleep(f.cost) // stands for the time a write takes
	}
	f.last = time.Now()
	b.Reset()
	f.p.mu.Lock()
	began := f.p.began // stable: no round begins while this one's only worker is here
	f.p.mu.Unlock()
	var again bool
	f.heavy, again = f.step(round, began, f.p.Delaying())
	return again
}

// TestPoolAdaptive: an adaptive pool does not delay while light, starts delaying once
// writing keeps its worker busy, and stops again when the load goes.
func TestPoolAdaptive(t *testing.T) {
	var wg sync.WaitGroup
	const delay = 40 * time.Millisecond
	var switches []bool // told under the pool's lock; read after wg.Wait
	p := NewPool(Options{Workers: 1, Delay: delay, Adaptive: true, OnSwitch: func(on bool, l float64) {
		if on != (l >= LoadOn) {
			t.Errorf("switched delaying=%v at load %v", on, l)
		}
		switches = append(switches, on)
	}}, &wg)
	if p.Delaying() {
		t.Fatal("an adaptive pool delays before it has seen any load")
	}
	var (
		prev            time.Time
		firstGap        time.Duration
		onAt, offAt     uint64
		gapsOn, gapsOff []time.Duration
		done            = make(chan struct{})
	)
	f := &phased{p: p, frame: []byte("x"), cost: 2 * time.Millisecond, heavy: true}
	f.step = func(round uint64, began time.Time, delaying bool) (heavy, again bool) {
		if round > 100000 {
			panic("the pool never changed mode")
		}
		gap := began.Sub(prev)
		if round == 2 {
			firstGap = gap
		}
		prev = began
		switch {
		case onAt == 0 && delaying:
			onAt = round
		case onAt != 0 && offAt == 0 && len(gapsOn) < 3:
			gapsOn = append(gapsOn, gap) // rounds after the switch: heavy, delayed
		case onAt != 0 && offAt == 0 && !delaying:
			offAt = round
		case offAt != 0 && round > offAt:
			gapsOff = append(gapsOff, gap)
			if len(gapsOff) == 3 {
				close(done)
				return false, false
			}
		}
		return onAt == 0 || len(gapsOn) < 3, true
	}
	p.Add(f, 0)
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the adaptive pool did not go through light → busy → light (on at round %d, off at %d, %d gaps on, %d off)", onAt, offAt, len(gapsOn), len(gapsOff))
	}
	wg.Wait()
	if firstGap >= delay {
		t.Errorf("before any load was measured, rounds began %v apart; want no delay", firstGap)
	}
	for _, g := range gapsOn {
		if g < delay {
			t.Errorf("while busy, rounds began %v apart; want ≥ %v (gaps %v)", g, delay, gapsOn)
		}
	}
	if len(switches) != 2 || !switches[0] || switches[1] {
		t.Errorf("OnSwitch told %v, want [true false]", switches)
	}
	for _, g := range gapsOff {
		if g >= delay {
			t.Errorf("after the load went, rounds began %v apart; want no delay (gaps %v)", g, gapsOff)
		}
	}
}
