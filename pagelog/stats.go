package pagelog

// AppendedBytes returns how many bytes of records this Log has appended
// since it was opened (headers, meta, data as stored, padding; not segment
// headers). It only grows: segments removed by RemoveThrough do not lower it.
func (l *Log) AppendedBytes() int64 { return l.appended.Load() }
