package epoll

import (
	"os"
	"syscall"
)

// Instance is an epoll instance. Its methods other than Close may be used
// concurrently; Wait by one goroutine at a time.
type Instance struct {
	// FD is the instance's descriptor, for epoll_ctl. It is valid until Close.
	FD int
	f  *os.File
	rc syscall.RawConn
}

// New creates an instance (close-on-exec, non-blocking, in the netpoller).
func New() (*Instance, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// Non-blocking, so that os.NewFile registers it with the netpoller.
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	f := os.NewFile(uintptr(fd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return &Instance{FD: fd, f: f, rc: rc}, nil
}

// Wait fills events and returns how many it got, parking the goroutine while there
// are none. An error is epoll_wait's (EINTR is retried) or the instance's closing.
func (e *Instance) Wait(events []syscall.EpollEvent) (int, error) {
	var n int
	var werr error
	err := e.rc.Read(func(fd uintptr) bool {
		for {
			n, werr = syscall.EpollWait(int(fd), events, 0)
			if werr != syscall.EINTR {
				break
			}
		}
		// With nothing yet, report "not ready": the runtime parks the goroutine until
		// the instance is readable, then calls again. It keeps the edge that came
		// since this call, so none is missed.
		return n > 0 || werr != nil
	})
	if err == nil && werr != nil {
		err = os.NewSyscallError("epoll_wait", werr)
	}
	return n, err
}

// Close closes the instance; its registrations go with it.
func (e *Instance) Close() error { return e.f.Close() }
