package wswrite

import (
	"syscall"
	"unsafe"
)

// maxIovecs is the kernel's IOV_MAX: more buffers go out in further writev calls.
const maxIovecs = 1024

// writevNonblock writes the rest of the batch to the non-blocking socket fd until it
// is all written or the socket is full (EAGAIN).
func (b *Batch) writevNonblock(fd uintptr) (done bool, err error) {
	for b.off < len(b.bufs) {
		b.iov = b.iov[:0]
		want := 0
		for _, p := range b.bufs[b.off:] {
			if len(b.iov) == maxIovecs {
				break
			}
			var v syscall.Iovec
			v.Base = &p[0]
			v.SetLen(len(p))
			b.iov = append(b.iov, v)
			want += len(p)
		}
		n, _, errno := syscall.Syscall(syscall.SYS_WRITEV, fd,
			uintptr(unsafe.Pointer(&b.iov[0])), uintptr(len(b.iov)))
		clear(b.iov) // the iovecs point into frames the batch no longer holds after Reset
		switch errno {
		case 0:
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false, nil
		default:
			return false, errno
		}
		b.consume(int(n))
		if int(n) < want {
			return false, nil
		}
	}
	return true, nil
}
