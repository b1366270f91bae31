// Package bufpool hands out byte buffers from one memory budget shared by
// everything that buffers data in the daemon: read-ahead windows, multipart
// upload parts, write-back buffers.
//
// Get blocks while the budget is spent, so memory stays bounded whatever the
// number of open files or their sizes; callers that must not wait (or that
// can fall back to disk) use TryGet. Freed buffers are kept for reuse while
// they fit in the budget, which spares the garbage collector the churn of
// multi-megabyte allocations.
//
// Account gives one user of a pool (a mount) a view of it that draws from
// the same budget but also counts what that user holds, so the memory in
// use can be shown per volume without dividing the budget between them.
package bufpool

import (
	"context"
	"fmt"
	"sync"
)

// Pool is a memory budget with a free list of buffers. The zero value is not
// usable; call New (or Account, for one user's share of a pool).
type Pool struct {
	budget int64
	// parent is the pool an account (see Account) draws from; nil for a
	// pool made by New. An account keeps no free list and no waiters of
	// its own: only used and peak.
	parent *Pool

	mu      sync.Mutex
	used    int64            // bytes handed out and not yet returned
	free    map[int][][]byte // returned buffers by capacity, kept for reuse
	freeLen int64            // bytes held in free
	waiters []chan struct{}  // Get calls waiting for memory, woken on Put
	peak    int64
}

// New returns a pool that never hands out more than budget bytes at once.
func New(budget int64) *Pool {
	if budget <= 0 {
		panic("bufpool: budget must be positive")
	}
	return &Pool{budget: budget, free: make(map[int][][]byte)}
}

// Account returns an account of p: a *Pool that hands out buffers from p's
// budget (its Get, TryGet and Put are p's, with the same waiting and
// limits) and also counts what it holds, so that its InUse is the share of
// one user (a mount) while p's InUse stays the total. The budget is not
// split: an account may take all of it. Buffers must go back through the
// account (or pool) they came from.
func (p *Pool) Account() *Pool {
	return &Pool{budget: p.budget, parent: p}
}

// Budget is the pool's total size in bytes.
func (p *Pool) Budget() int64 { return p.budget }

// Get returns a buffer of length size, waiting until the budget has room.
// It fails only when ctx ends or size exceeds the whole budget.
func (p *Pool) Get(ctx context.Context, size int) ([]byte, error) {
	if p.parent != nil {
		b, err := p.parent.Get(ctx, size)
		if err == nil {
			p.count(int64(cap(b)))
		}
		return b, err
	}
	if int64(size) > p.budget {
		return nil, fmt.Errorf("bufpool: buffer of %d bytes exceeds the memory budget of %d bytes", size, p.budget)
	}
	for {
		p.mu.Lock()
		if b, ok := p.takeLocked(size); ok {
			p.mu.Unlock()
			return b, nil
		}
		wake := make(chan struct{})
		p.waiters = append(p.waiters, wake)
		p.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			p.mu.Lock()
			p.dropWaiterLocked(wake)
			p.mu.Unlock()
			return nil, fmt.Errorf("bufpool: waiting for %d bytes of buffer memory: %w", size, ctx.Err())
		}
	}
}

// TryGet returns a buffer of length size if the budget has room now.
func (p *Pool) TryGet(size int) ([]byte, bool) {
	if p.parent != nil {
		b, ok := p.parent.TryGet(size)
		if ok {
			p.count(int64(cap(b)))
		}
		return b, ok
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.takeLocked(size)
}

// Put returns a buffer obtained from Get or TryGet. The buffer must not be
// used afterwards.
func (p *Pool) Put(b []byte) {
	if b == nil {
		return
	}
	if p.parent != nil {
		p.count(-int64(cap(b)))
		p.parent.Put(b)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	c := cap(b)
	p.used -= int64(c)
	// Keep it for reuse unless the free list would crowd out fresh sizes.
	if p.freeLen+int64(c) <= p.budget/2 {
		p.free[c] = append(p.free[c], b[:c])
		p.freeLen += int64(c)
	}
	for _, w := range p.waiters {
		close(w)
	}
	p.waiters = nil
}

// InUse reports the bytes handed out now and the most ever handed out.
func (p *Pool) InUse() (now, peak int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.used, p.peak
}

// count adds n bytes (negative: returned) to what an account holds.
func (p *Pool) count(n int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used += n
	if p.used > p.peak {
		p.peak = p.used
	}
}

// takeLocked hands out size bytes if the budget allows, reusing a free
// buffer of exactly that capacity when there is one.
func (p *Pool) takeLocked(size int) ([]byte, bool) {
	if list := p.free[size]; len(list) > 0 {
		b := p.popFreeLocked(size)
		p.addUsedLocked(size)
		return b[:size], true
	}
	// Free buffers of other sizes still hold memory: drop them if that
	// makes room for this one.
	for p.used+p.freeLen+int64(size) > p.budget && p.freeLen > 0 {
		p.dropOneFreeLocked()
	}
	if p.used+int64(size) > p.budget {
		return nil, false
	}
	p.addUsedLocked(size)
	return make([]byte, size), true
}

func (p *Pool) addUsedLocked(size int) {
	p.used += int64(size)
	if p.used > p.peak {
		p.peak = p.used
	}
}

func (p *Pool) dropOneFreeLocked() {
	for c := range p.free {
		p.popFreeLocked(c)
		return
	}
}

// popFreeLocked takes the last free buffer of capacity c off its list. The
// list's slot is cleared: a buffer still referenced from the list's backing
// array could never be collected, and its memory would stay allocated
// outside the budget.
func (p *Pool) popFreeLocked(c int) []byte {
	list := p.free[c]
	b := list[len(list)-1]
	list[len(list)-1] = nil
	if len(list) == 1 {
		delete(p.free, c)
	} else {
		p.free[c] = list[:len(list)-1]
	}
	p.freeLen -= int64(c)
	return b
}

func (p *Pool) dropWaiterLocked(w chan struct{}) {
	for i, x := range p.waiters {
		if x == w {
			p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
			return
		}
	}
}

// RuntimeMargin is the memory allowed on top of a pool's budget for
// everything the pool does not count: the Go runtime, go-fuse's request
// buffers, metadata caches. Programs that serve mounts set the runtime's soft
// memory limit (debug.SetMemoryLimit) to the budget plus this margin, so the
// garbage collector works harder before the process outgrows it.
const RuntimeMargin = 32 << 20
