// Package parallel runs numbered tasks a bounded number at a time and stops
// at the first failure: the shape of a multipart upload's or copy's parts.
package parallel

import (
	"context"
	"sync"
)

// Run calls fn(ctx, i) for every i in 0..n-1, at most limit at a time. The
// first error cancels the context the other calls run with, no new call
// starts, and Run returns that error once the running calls have returned.
// When ctx ends first, Run returns its error.
func Run(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
		slots = make(chan struct{}, max(limit, 1))
	)
	for i := range n {
		slots <- struct{}{}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := fn(ctx, i); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return ctx.Err()
}
