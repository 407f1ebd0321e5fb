package volume

// Scrub reads every record of the log's sealed segments and checks its
// checksum (pagelog.VerifySealed): a mount builds the state from the
// segments' indexes without reading the records, so this is how damage
// that appeared on the disk after a segment was indexed is found. The
// daemon runs it once in the background after mounting; what it finds is
// returned, kept, and shown by Status (Damaged and a warning) until the
// volume is closed. It returns nil early when stop is closed.
func (v *Volume) Scrub(stop <-chan struct{}) error {
	err := v.log.VerifySealed(stop)
	v.mu.Lock()
	v.damaged = err
	v.mu.Unlock()
	return err
}
