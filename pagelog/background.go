package pagelog

import "sync"

// background runs jobs one at a time on a goroutine of its own. The
// goroutine starts when a job is queued and stops when the queue is empty,
// so an idle log has none. The index writer (index.go) and write-behind
// (writebehind.go) use it.
type background[T any] struct {
	mu      sync.Mutex
	queue   []T
	running bool
	done    chan struct{} // closed when the running goroutine stops
}

// add queues job for do, unless limit jobs (0: no limit) wait already; it
// reports whether it queued the job.
func (b *background[T]) add(job T, limit int, do func(T)) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if limit > 0 && len(b.queue) >= limit {
		return false
	}
	b.queue = append(b.queue, job)
	if !b.running {
		b.running = true
		b.done = make(chan struct{})
		go b.run(b.done, do)
	}
	return true
}

func (b *background[T]) run(done chan struct{}, do func(T)) {
	defer close(done)
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.queue = nil
			b.running = false
			b.mu.Unlock()
			return
		}
		job := b.queue[0]
		b.queue = b.queue[1:]
		b.mu.Unlock()
		do(job)
	}
}

// wait waits until every queued job is done and the goroutine has stopped.
func (b *background[T]) wait() {
	b.mu.Lock()
	done := b.done
	b.mu.Unlock()
	if done != nil {
		<-done
	}
}
