//go:build !linux

package wswrite

// writevNonblock is only implemented on Linux; elsewhere every batch is finished by a
// blocking Write.
func (b *Batch) writevNonblock(uintptr) (done bool, err error) { return false, nil }
