package epoll

import (
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestWait: Wait parks until a registered descriptor is readable, returns its event,
// and ends with an error once the instance is closed.
func TestWait(t *testing.T) {
	e, err := New()
	if err != nil {
		t.Fatal(err)
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: 42}
	if err := syscall.EpollCtl(e.FD, syscall.EPOLL_CTL_ADD, p[0], &ev); err != nil {
		t.Fatal(err)
	}

	got := make(chan syscall.EpollEvent)
	done := make(chan error, 1)
	go func() {
		events := make([]syscall.EpollEvent, 4)
		for {
			n, err := e.Wait(events)
			if err != nil {
				done <- err
				return
			}
			for _, ev := range events[:n] {
				got <- ev
			}
		}
	}()
	select {
	case ev := <-got:
		t.Fatalf("event %+v before anything was written", ev)
	case <-time.After(50 * time.Millisecond): // nothing to wait for: the absence of an event
	}
	if _, err := syscall.Write(p[1], []byte{1}); err != nil {
		t.Fatal(err)
	}
	if ev := <-got; ev.Fd != 42 || ev.Events&syscall.EPOLLIN == 0 {
		t.Fatalf("event %+v, want EPOLLIN for 42", ev)
	}
	// Level-triggered and unread: reported again at the next Wait.
	if ev := <-got; ev.Fd != 42 {
		t.Fatalf("event %+v, want 42 again", ev)
	}
	var b [1]byte
	_, _ = syscall.Read(p[0], b[:])
	// Drain what the waiter may have queued meanwhile, then close.
	go func() {
		for range got {
		}
	}()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Fatal("Wait returned no error after Close")
	}
	close(got)
}
