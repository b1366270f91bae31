package parallel

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunsEveryTaskWithinTheLimit(t *testing.T) {
	var running, peak, done atomic.Int32
	err := Run(context.Background(), 50, 4, func(ctx context.Context, i int) error {
		n := running.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(time.Millisecond)
		running.Add(-1)
		done.Add(1)
		return nil
	})
	if err != nil || done.Load() != 50 || peak.Load() > 4 {
		t.Fatalf("err %v, %d tasks done (want 50), peak %d at once (want at most 4)", err, done.Load(), peak.Load())
	}
}

func TestFirstErrorStopsTheRest(t *testing.T) {
	boom := errors.New("boom")
	var started atomic.Int32
	err := Run(context.Background(), 100, 2, func(ctx context.Context, i int) error {
		started.Add(1)
		if i == 3 {
			return boom
		}
		select {
		case <-ctx.Done(): // cancelled by the failure
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
			return nil
		}
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Run returned %v, want the first failure", err)
	}
	if n := started.Load(); n > 6 {
		t.Fatalf("%d tasks started after the failure stopped the run, want no more than the few in flight", n)
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
