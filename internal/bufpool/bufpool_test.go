package bufpool

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
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
