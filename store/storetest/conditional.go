package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/s3vol/s3vol/store"
)

// racers is how many goroutines race in the conditional-write cases.
const racers = 16

// testCreateRace: 16 create-only Puts of one key race; exactly one wins,
// the others get ErrPreconditionFailed, and the object is the winner's.
// Several rounds, since one round may happen not to overlap much.
func testCreateRace(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	for round := range 5 {
		key := fmt.Sprintf("race/create/%d", round)
		errs := make([]error, racers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range racers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := []byte(fmt.Sprintf("writer %d", i))
				<-start
				_, errs[i] = s.Put(ctx, key, bytes.NewReader(body), int64(len(body)), store.PutOptions{IfNoneMatch: true})
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: writers %d and %d both created %q", round, winner, i, key)
			case err == nil:
				winner = i
			default:
				wantKind(t, err, store.ErrPreconditionFailed, fmt.Sprintf("round %d, losing writer %d", round, i))
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer created %q", round, key)
		}
		wantBody(t, ctx, s, key, []byte(fmt.Sprintf("writer %d", winner)))
	}
}

// testCASRace: 16 goroutines each increment a counter object 10 times with
// read / compare-and-swap / retry; no update may be lost.
func testCASRace(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	const increments = 10
	put(t, ctx, s, "race/counter", []byte("0"), store.PutOptions{})
	errs := make(chan error, racers)
	var wg sync.WaitGroup
	for range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range increments {
				if err := increment(ctx, s, "race/counter"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, _ := get(t, ctx, s, "race/counter", store.GetOptions{})
	if want := strconv.Itoa(racers * increments); string(got) != want {
		t.Fatalf("counter is %s after %d increments: updates were lost", got, racers*increments)
	}

	// CAS on a missing key can never succeed.
	_, err := s.Put(ctx, "race/missing", strings.NewReader("1"), 1, store.PutOptions{IfMatch: "0123456789abcdef0123456789abcdef"})
	if !errors.Is(err, store.ErrPreconditionFailed) && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("If-Match put of a missing key: got %v, want precondition failed or not found", err)
	}
	wantGone(t, ctx, s, "race/missing")
}

// increment adds one to the counter, retrying when another writer won.
func increment(ctx context.Context, s store.Store, key string) error {
	for {
		rc, o, err := s.Get(ctx, key, store.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading the counter: %w", err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("reading the counter: %w", err)
		}
		n, err := strconv.Atoi(string(b))
		if err != nil {
			return fmt.Errorf("counter holds %q: %w", b, err)
		}
		next := strconv.Itoa(n + 1)
		_, err = s.Put(ctx, key, strings.NewReader(next), int64(len(next)), store.PutOptions{IfMatch: o.ETag})
		if errors.Is(err, store.ErrPreconditionFailed) {
			continue
		}
		if err != nil {
			return fmt.Errorf("compare-and-swap %s -> %s: %w", b, next, err)
		}
		return nil
	}
}
