package runtime

import "sync"

// MemoryPool shares one memory limit among the workers of a process that
// open sessions in parallel (the workers of a ranking). Each worker
// reserves a session's estimate through its own MemoryBudget before the
// session opens and gives it back when the session is destroyed; a worker
// whose first session does not fit next to the other workers' waits until
// enough is given back. One worker alone always goes ahead: whether a
// single session fits the limit is CheckMemory's question.
type MemoryPool struct {
	mu             sync.Mutex
	freed          *sync.Cond
	capacity, used int64
	peak           int64 // the most reserved at once, by all workers
	workerPeak     int64 // the most one worker held at once
}

// NewMemoryPool returns a pool of capacity bytes.
func NewMemoryPool(capacity int64) *MemoryPool {
	p := &MemoryPool{capacity: capacity}
	p.freed = sync.NewCond(&p.mu)
	return p
}

// Peak is the most that was reserved at once.
func (p *MemoryPool) Peak() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}

// WorkerPeak is the most that one worker held at once (its sessions' estimates).
func (p *MemoryPool) WorkerPeak() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.workerPeak
}

// Capacity is the pool's limit in bytes.
func (p *MemoryPool) Capacity() int64 { return p.capacity }

// Worker returns a budget for one worker. Nil pools give nil budgets
// (no limit).
func (p *MemoryPool) Worker() *MemoryBudget {
	if p == nil {
		return nil
	}
	return &MemoryBudget{pool: p}
}

// MemoryBudget is one worker's view of a MemoryPool (SessionOptions.Budget).
// It is meant for the sessions of one goroutine.
type MemoryBudget struct {
	pool *MemoryPool
	held int64
}

// Reserve takes n bytes from the pool and returns the function that gives
// them back (call it once). It waits while other workers hold memory and
// n does not fit next to theirs. A worker that already holds memory (a
// second session opened while its first is open, as grasp's
// Hessian-vector product does) never waits: two such workers would wait
// for each other.
func (b *MemoryBudget) Reserve(n int64) (release func()) {
	if b == nil {
		return func() {}
	}
	p := b.pool
	p.mu.Lock()
	for b.held == 0 && p.used > 0 && p.used+n > p.capacity {
		p.freed.Wait()
	}
	p.used += n
	b.held += n
	p.peak = max(p.peak, p.used)
	p.workerPeak = max(p.workerPeak, b.held)
	p.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			p.used -= n
			b.held -= n
			p.mu.Unlock()
			p.freed.Broadcast()
		})
	}
}
