package parallel

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Run starts as many tasks as the limit before any ends, and never more:
// the first tasks hold until the limit is reached, so the peak is the
// limit exactly, with no sleep hoping for an overlap.
func TestRunsEveryTaskWithinTheLimit(t *testing.T) {
	const n, limit = 50, 4
	var running, peak, done atomic.Int32
	full := make(chan struct{}) // closed once limit tasks run at once
	var once sync.Once
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Run(ctx, n, limit, func(ctx context.Context, i int) error {
		r := running.Add(1)
		for p := peak.Load(); r > p && !peak.CompareAndSwap(p, r); p = peak.Load() {
		}
		if r == limit {
			once.Do(func() { close(full) })
		}
		defer running.Add(-1)
		if i < limit {
			select {
			case <-full:
			case <-ctx.Done():
				return fmt.Errorf("task %d: %d tasks never ran at once: %w", i, limit, ctx.Err())
			}
		}
		done.Add(1)
		return nil
	})
	if err != nil || done.Load() != n || peak.Load() != limit {
		t.Fatalf("err %v, %d tasks done (want %d), peak %d at once (want %d)", err, done.Load(), n, peak.Load(), limit)
	}
}

// The first failure cancels the tasks in flight and starts no new one.
func TestFirstErrorStopsTheRest(t *testing.T) {
	boom := errors.New("boom")
	var started atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := Run(ctx, 100, 2, func(ctx context.Context, i int) error {
		started.Add(1)
		switch {
		case i < 3:
			return nil
		case i == 3:
			return boom
		}
		<-ctx.Done() // only the failure's cancellation ends it
		return ctx.Err()
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Run returned %v, want the first failure", err)
	}
	if ctx.Err() != nil {
		t.Fatal("the task in flight beside the failure ended only with the test's own deadline: the failure did not cancel it")
	}
	// Tasks 0 to 3, and at most one beside task 3 (the limit is 2).
	if n := started.Load(); n > 5 {
		t.Fatalf("%d tasks started, want no more than 5: none may start after the failure", n)
	}
}

func TestEndedContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	err := Run(ctx, 10, 1, func(context.Context, int) error { calls++; return nil })
	if !errors.Is(err, context.Canceled) || calls != 0 {
		t.Fatalf("Run on an ended context: %v after %d calls, want context.Canceled and none", err, calls)
	}
}
