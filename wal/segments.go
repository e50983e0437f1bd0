package wal

// SegmentStarts returns the first sequence of every segment, oldest first;
// the last one is the active segment. TruncateFront(SegmentStarts()[1])
// deletes exactly the oldest segment file.
func (l *Log) SegmentStarts() []uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]uint64, len(l.segs))
	for i, s := range l.segs {
		out[i] = s.first
	}
	return out
}
