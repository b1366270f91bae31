package bufpool

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"
	"weak"
)

func TestBudgetIsNeverExceeded(t *testing.T) {
	const budget = 8 << 20
	p := New(budget)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			size := (1 + i%4) << 20
			for j := 0; j < 50; j++ {
				b, err := p.Get(context.Background(), size)
				if err != nil {
					t.Error(err)
					return
				}
				if len(b) != size {
					t.Errorf("len %d, want %d", len(b), size)
				}
				b[0], b[size-1] = 1, 1
				p.Put(b)
			}
		}(i)
	}
	wg.Wait()
	now, peak := p.InUse()
	if now != 0 {
		t.Errorf("%d bytes still in use after every buffer came back", now)
	}
	if peak > budget {
		t.Errorf("peak use %d exceeds the budget %d", peak, budget)
	}
}

func TestGetWaitsForPutAndHonoursContext(t *testing.T) {
	p := New(4 << 20)
	held, err := p.Get(context.Background(), 4<<20)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.TryGet(1); ok {
		t.Fatal("TryGet succeeded with the whole budget in use")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := p.Get(ctx, 1<<20); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Get with a spent budget and an expiring context: %v", err)
	}

	got := make(chan []byte)
	go func() {
		b, err := p.Get(context.Background(), 2<<20)
		if err != nil {
			t.Error(err)
		}
		got <- b
	}()
	p.Put(held)
	if b := <-got; len(b) != 2<<20 {
		t.Fatalf("waiting Get returned %d bytes", len(b))
	}
}

func TestOversizedRequestFails(t *testing.T) {
	p := New(1 << 20)
	if _, err := p.Get(context.Background(), 2<<20); err == nil {
		t.Fatal("a buffer larger than the whole budget was handed out")
	}
}

// A buffer the pool lets go (dropped from its free list to make room for
// another size) must not stay reachable from the free list's backing
// array: memory the budget no longer counts would stay allocated, outside
// the budget.
func TestDroppedBuffersCanBeCollected(t *testing.T) {
	p := New(8 << 20)
	held, _ := p.TryGet(4 << 20)
	small, _ := p.TryGet(1 << 20)
	droppedSmall := weak.Make(&small[0])
	p.Put(small) // kept on the free list for reuse
	small = nil
	big, ok := p.TryGet(4 << 20) // no room beside held and the free 1 MiB: it goes
	if !ok {
		t.Fatal("the pool refused a buffer it has room for")
	}
	runtime.GC()
	if droppedSmall.Value() != nil {
		t.Error("a buffer dropped from the free list is still reachable from the pool")
	}
	p.Put(big) // kept for reuse
	p.Put(held)
	again, _ := p.TryGet(4 << 20)
	if &again[0] != &big[0] {
		t.Fatal("the free buffer was not reused")
	}
	droppedAgain := weak.Make(&again[0])
	big = nil
	p.Put(again)
	again = nil
	whole, ok := p.TryGet(8 << 20) // the whole budget: the free 4 MiB goes
	if !ok {
		t.Fatal("the pool refused a buffer of its whole budget")
	}
	runtime.GC()
	if droppedAgain.Value() != nil {
		t.Error("a buffer reused, returned and then dropped is still reachable from the pool")
	}
	runtime.KeepAlive(whole)
	runtime.KeepAlive(p)
}

// An account's buffers are counted in the account and in its pool; the
// account draws from the pool's budget, so it waits like the pool when
// another account holds it all, and what it puts back is the pool's again.
func TestAccountSharesTheBudgetAndCountsItsShare(t *testing.T) {
	p := New(4 << 20)
	a, b := p.Account(), p.Account()
	if a.Budget() != p.Budget() {
		t.Fatalf("an account's budget is %d, the pool's %d", a.Budget(), p.Budget())
	}
	held, err := a.Get(context.Background(), 3<<20)
	if err != nil {
		t.Fatal(err)
	}
	if now, _ := a.InUse(); now != 3<<20 {
		t.Errorf("the account holds %d bytes, want %d", now, 3<<20)
	}
	if now, _ := p.InUse(); now != 3<<20 {
		t.Errorf("the pool has %d bytes in use, want %d (the account's)", now, 3<<20)
	}
	if now, _ := b.InUse(); now != 0 {
		t.Errorf("an idle account holds %d bytes", now)
	}
	small, ok := b.TryGet(1 << 20)
	if !ok {
		t.Fatal("TryGet of the budget's last MiB refused")
	}
	if now, _ := p.InUse(); now != 4<<20 {
		t.Errorf("the pool has %d bytes in use, want the whole budget", now)
	}
	if _, ok := b.TryGet(1); ok {
		t.Fatal("an account's TryGet succeeded with the shared budget spent")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.Get(ctx, 1<<20); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an account's Get with the shared budget spent and an expiring context: %v", err)
	}

	// b waits for memory a holds; a's Put wakes it.
	got := make(chan []byte)
	go func() {
		buf, err := b.Get(context.Background(), 2<<20)
		if err != nil {
			t.Error(err)
		}
		got <- buf
	}()
	a.Put(held)
	buf := <-got
	if len(buf) != 2<<20 {
		t.Fatalf("the waiting Get returned %d bytes", len(buf))
	}
	if now, peak := a.InUse(); now != 0 || peak != 3<<20 {
		t.Errorf("after its Put the account holds %d bytes (peak %d), want 0 (peak %d)", now, peak, 3<<20)
	}
	if now, _ := b.InUse(); now != 3<<20 {
		t.Errorf("the account holds %d bytes, want %d", now, 3<<20)
	}
	b.Put(buf)
	b.Put(small)
	if now, _ := b.InUse(); now != 0 {
		t.Errorf("after its Puts the account holds %d bytes", now)
	}
	if now, _ := p.InUse(); now != 0 {
		t.Errorf("after every Put the pool has %d bytes in use", now)
	}
	// Everything came back to the shared budget: the pool hands it out whole.
	if whole, ok := p.TryGet(4 << 20); !ok {
		t.Error("the pool refused its whole budget after the accounts' buffers came back")
	} else {
		p.Put(whole)
	}
}
