package faultstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
	"github.com/s3vol/s3vol/store/localstore"
	"github.com/s3vol/s3vol/store/storetest"
)

// testTimeout bounds every test's calls, so a fault that hangs for real
// fails the test instead of hanging it.
const testTimeout = time.Minute

// newLocal returns an empty local store, metered so a test can tell which
// calls reached it.
func newLocal(t *testing.T) *store.Metered {
	t.Helper()
	ls, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatalf("new local store: %v", err)
	}
	t.Cleanup(func() { ls.Close() })
	return store.NewMetered(ls)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func put(t *testing.T, ctx context.Context, s store.Store, key string, data []byte) store.Object {
	t.Helper()
	obj, err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data)), store.PutOptions{})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return obj
}

// wantInjected fails t unless err is an injected *store.Error of kind.
func wantInjected(t *testing.T, err, kind error, what string) {
	t.Helper()
	var se *store.Error
	if !errors.As(err, &se) || !errors.Is(err, kind) {
		t.Fatalf("%s: got %v (%T), want a *store.Error wrapping %q", what, err, err, kind)
	}
	if !strings.Contains(err.Error(), "injected fault") {
		t.Fatalf("%s: error %q does not say it was injected", what, err)
	}
}

// With no rules the wrapper is transparent: the whole conformance suite
// passes through it.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return faultstore.New(newLocal(t).Store) })
}

// opCase is one operation driven through the fault store: run makes the
// call (returning its error), reached is the metered request kind that
// shows the call reached the wrapped store, and happened checks on the
// wrapped store whether its effect took place.
type opCase struct {
	op       faultstore.Op
	setup    func(t *testing.T, ctx context.Context, s store.Store)
	run      func(ctx context.Context, s store.Store) error
	reached  string
	happened func(ctx context.Context, inner store.Store) bool
}

func exists(ctx context.Context, s store.Store, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// pendingUploads counts the unfinished uploads under prefix.
func pendingUploads(t *testing.T, ctx context.Context, s store.Store, prefix string) int {
	t.Helper()
	n, err := s.AbortStaleUploads(ctx, prefix, 0)
	if err != nil {
		t.Fatalf("abort stale uploads: %v", err)
	}
	return n
}

// upload starts an upload of key on s and uploads one part.
func upload(ctx context.Context, s store.Store, key string) (store.Multipart, error) {
	mp, err := s.NewMultipart(ctx, key, store.PutOptions{})
	if err != nil {
		return nil, err
	}
	if err := mp.UploadPart(ctx, 1, strings.NewReader("part"), 4); err != nil {
		mp.Abort(ctx)
		return nil, err
	}
	return mp, nil
}

func opCases(t *testing.T) []opCase {
	return []opCase{
		{op: faultstore.OpStat,
			setup:   func(t *testing.T, ctx context.Context, s store.Store) { put(t, ctx, s, "k", []byte("x")) },
			run:     func(ctx context.Context, s store.Store) error { _, err := s.Stat(ctx, "k"); return err },
			reached: store.ReqStat},
		{op: faultstore.OpGet,
			setup: func(t *testing.T, ctx context.Context, s store.Store) { put(t, ctx, s, "k", []byte("x")) },
			run: func(ctx context.Context, s store.Store) error {
				r, _, err := s.Get(ctx, "k", store.GetOptions{})
				if err == nil {
					r.Close()
				}
				return err
			},
			reached: store.ReqGet},
		{op: faultstore.OpPut,
			run: func(ctx context.Context, s store.Store) error {
				_, err := s.Put(ctx, "k", strings.NewReader("x"), 1, store.PutOptions{})
				return err
			},
			reached:  store.ReqPut,
			happened: func(ctx context.Context, s store.Store) bool { return exists(ctx, s, "k") }},
		{op: faultstore.OpNewMultipart,
			run: func(ctx context.Context, s store.Store) error {
				mp, err := s.NewMultipart(ctx, "k", store.PutOptions{})
				if err == nil {
					mp.Abort(ctx)
				}
				return err
			},
			reached: store.ReqMultipartCreate},
		{op: faultstore.OpUploadPart,
			run: func(ctx context.Context, s store.Store) error {
				mp, err := upload(ctx, s, "k")
				if err == nil {
					mp.Abort(ctx)
				}
				return err
			},
			reached: store.ReqMultipartPart},
		{op: faultstore.OpCopyPart,
			setup: func(t *testing.T, ctx context.Context, s store.Store) { put(t, ctx, s, "src", []byte("source")) },
			run: func(ctx context.Context, s store.Store) error {
				src, err := s.Stat(ctx, "src")
				if err != nil {
					return fmt.Errorf("stat of the source: %w", err)
				}
				mp, err := s.NewMultipart(ctx, "k", store.PutOptions{})
				if err != nil {
					return err
				}
				defer mp.Abort(ctx)
				return mp.CopyPart(ctx, 1, "src", src.ETag, 0, src.Size)
			},
			reached: store.ReqMultipartCopy},
		{op: faultstore.OpComplete,
			run: func(ctx context.Context, s store.Store) error {
				mp, err := upload(ctx, s, "k")
				if err != nil {
					return fmt.Errorf("starting the upload: %w", err)
				}
				_, err = mp.Complete(ctx)
				if err != nil {
					mp.Abort(context.WithoutCancel(ctx))
				}
				return err
			},
			reached:  store.ReqMultipartDone,
			happened: func(ctx context.Context, s store.Store) bool { return exists(ctx, s, "k") }},
		{op: faultstore.OpAbort,
			run: func(ctx context.Context, s store.Store) error {
				mp, err := upload(ctx, s, "k")
				if err != nil {
					return fmt.Errorf("starting the upload: %w", err)
				}
				return mp.Abort(ctx)
			},
			reached: store.ReqMultipartAbort,
			happened: func(ctx context.Context, s store.Store) bool {
				n, err := s.AbortStaleUploads(ctx, "", 0)
				return err == nil && n == 0
			}},
		{op: faultstore.OpCopy,
			setup: func(t *testing.T, ctx context.Context, s store.Store) { put(t, ctx, s, "src", []byte("x")) },
			run: func(ctx context.Context, s store.Store) error {
				_, err := s.Copy(ctx, "src", "k", store.CopyOptions{})
				return err
			},
			reached:  store.ReqCopy,
			happened: func(ctx context.Context, s store.Store) bool { return exists(ctx, s, "k") }},
		{op: faultstore.OpList,
			setup: func(t *testing.T, ctx context.Context, s store.Store) { put(t, ctx, s, "k", []byte("x")) },
			run: func(ctx context.Context, s store.Store) error {
				for _, err := range s.List(ctx, store.ListOptions{Prefix: "k"}) {
					if err != nil {
						return err
					}
				}
				return nil
			},
			reached: store.ReqList},
		{op: faultstore.OpDelete,
			setup:    func(t *testing.T, ctx context.Context, s store.Store) { put(t, ctx, s, "k", []byte("x")) },
			run:      func(ctx context.Context, s store.Store) error { return s.Delete(ctx, "k") },
			reached:  store.ReqDelete,
			happened: func(ctx context.Context, s store.Store) bool { return !exists(ctx, s, "k") }},
		{op: faultstore.OpDeleteMany,
			setup:    func(t *testing.T, ctx context.Context, s store.Store) { put(t, ctx, s, "k", []byte("x")) },
			run:      func(ctx context.Context, s store.Store) error { return s.DeleteMany(ctx, []string{"j", "k"}) },
			reached:  store.ReqDelete,
			happened: func(ctx context.Context, s store.Store) bool { return !exists(ctx, s, "k") }},
		{op: faultstore.OpAbortStale,
			run: func(ctx context.Context, s store.Store) error {
				_, err := s.AbortStaleUploads(ctx, "k", time.Hour)
				return err
			},
			reached: store.ReqAbortStale},
	}
}

// Every operation fails with the rule's kind, and a failed call never
// reached the wrapped store; with AfterCall it did, and its effect stays.
func TestEveryOpFails(t *testing.T) {
	covered := map[faultstore.Op]bool{faultstore.OpRead: true} // TestReadFailsMidStream
	for _, c := range opCases(t) {
		covered[c.op] = true
		t.Run(string(c.op), func(t *testing.T) {
			for _, afterCall := range []bool{false, true} {
				t.Run(fmt.Sprintf("afterCall=%v", afterCall), func(t *testing.T) {
					ctx := testCtx(t)
					inner := newLocal(t)
					fs := faultstore.New(inner)
					if c.setup != nil {
						c.setup(t, ctx, inner)
					}
					inner.Reset()
					fs.Add(faultstore.Rule{Op: c.op, Key: "k", Err: store.ErrNoSpace, AfterCall: afterCall})
					err := c.run(ctx, fs)
					wantInjected(t, err, store.ErrNoSpace, string(c.op))
					if got := fs.Injected(); got != 1 {
						t.Errorf("Injected() = %d, want 1", got)
					}
					reached := inner.Snapshot()[c.reached]
					switch {
					case !afterCall && reached != 0:
						t.Errorf("the failed %s reached the wrapped store (%d %s requests)", c.op, reached, c.reached)
					case afterCall && reached == 0:
						t.Errorf("the AfterCall %s never reached the wrapped store", c.op)
					}
					if c.happened != nil && c.happened(ctx, inner) != afterCall {
						t.Errorf("%s failed with afterCall=%v, yet its effect on the wrapped store is %v",
							c.op, afterCall, c.happened(ctx, inner))
					}
				})
			}
		})
	}
	for _, op := range faultstore.Ops {
		if !covered[op] {
			t.Errorf("no test case for %s", op)
		}
	}
}

// A lost reply to NewMultipart leaves the upload unfinished on the store,
// the case a crash leaves behind.
func TestNewMultipartAfterCallLeavesUpload(t *testing.T) {
	ctx := testCtx(t)
	inner := newLocal(t)
	fs := faultstore.New(inner)
	fs.Add(faultstore.Rule{Op: faultstore.OpNewMultipart, AfterCall: true})
	if _, err := fs.NewMultipart(ctx, "vol/file", store.PutOptions{}); err == nil {
		t.Fatal("NewMultipart with an AfterCall rule succeeded")
	}
	if n := pendingUploads(t, ctx, inner, "vol/"); n != 1 {
		t.Fatalf("%d unfinished uploads after a lost NewMultipart reply, want 1", n)
	}
}

// An OpRead fault cuts a body off after AfterBytes bytes; the bytes before
// it are the object's.
func TestReadFailsMidStream(t *testing.T) {
	ctx := testCtx(t)
	inner := newLocal(t)
	data := bytes.Repeat([]byte("0123456789"), 10_000)
	put(t, ctx, inner, "obj", data)
	fs := faultstore.New(inner)
	fs.Add(faultstore.Rule{Op: faultstore.OpRead, Key: "obj", AfterBytes: 12_345, Times: 1})

	r, _, err := fs.Get(ctx, "obj", store.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	wantInjected(t, err, store.ErrUnavailable, "reading the body")
	if !bytes.Equal(got, data[:12_345]) {
		t.Fatalf("read %d bytes before the fault, want the object's first 12345", len(got))
	}
	if _, err := r.Read(make([]byte, 10)); err == nil {
		t.Fatal("a body kept reading after its fault")
	}

	// Times: 1 is spent, the next body reads whole.
	r, _, err = fs.Get(ctx, "obj", store.GetOptions{})
	if err != nil {
		t.Fatalf("second get: %v", err)
	}
	got, err = io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("second read: %d bytes, err %v; want the whole object", len(got), err)
	}
	if n := fs.Calls(faultstore.OpRead); n != 2 {
		t.Fatalf("Calls(read) = %d, want 2 bodies", n)
	}
}

// A body shorter than AfterBytes fails at its end instead of ending.
func TestReadFaultAtShortBodyEnd(t *testing.T) {
	ctx := testCtx(t)
	inner := newLocal(t)
	put(t, ctx, inner, "obj", []byte("short"))
	fs := faultstore.New(inner)
	fs.Add(faultstore.Rule{Op: faultstore.OpRead, AfterBytes: 1 << 20, Err: store.ErrAccessDenied})
	r, _, err := fs.Get(ctx, "obj", store.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	wantInjected(t, err, store.ErrAccessDenied, "reading a short body")
	if string(got) != "short" {
		t.Fatalf("read %q, want %q", got, "short")
	}
}

// An OpList fault ends a listing with an error after AfterBytes objects.
func TestListFailsAfterObjects(t *testing.T) {
	ctx := testCtx(t)
	inner := newLocal(t)
	for i := range 5 {
		put(t, ctx, inner, fmt.Sprintf("d/%d", i), []byte("x"))
	}
	fs := faultstore.New(inner)
	fs.Add(faultstore.Rule{Op: faultstore.OpList, Key: "d/", AfterBytes: 3})
	var keys []string
	var listErr error
	for obj, err := range fs.List(ctx, store.ListOptions{Prefix: "d/"}) {
		if err != nil {
			listErr = err
			break
		}
		keys = append(keys, obj.Key)
	}
	wantInjected(t, listErr, store.ErrUnavailable, "listing")
	if strings.Join(keys, ",") != "d/0,d/1,d/2" {
		t.Fatalf("listed %q before the fault, want d/0..d/2", keys)
	}
	// A listing of another prefix is not matched.
	for _, err := range fs.List(ctx, store.ListOptions{Prefix: "e/"}) {
		if err != nil {
			t.Fatalf("listing an unmatched prefix: %v", err)
		}
	}
}

// statPattern makes n Stat calls and returns which ones failed ("x") and
// which succeeded (".").
func statPattern(t *testing.T, ctx context.Context, s store.Store, key string, n int) string {
	t.Helper()
	var b strings.Builder
	for range n {
		_, err := s.Stat(ctx, key)
		switch {
		case err == nil:
			b.WriteByte('.')
		case errors.Is(err, store.ErrUnavailable):
			b.WriteByte('x')
		default:
			t.Fatalf("stat: %v", err)
		}
	}
	return b.String()
}

func TestNthAndTimes(t *testing.T) {
	ctx := testCtx(t)
	inner := newLocal(t)
	put(t, ctx, inner, "k", []byte("x"))
	for _, c := range []struct {
		rule faultstore.Rule
		want string
	}{
		{faultstore.Rule{Op: faultstore.OpStat, Nth: 3}, "..x...."},
		{faultstore.Rule{Op: faultstore.OpStat, Times: 2}, "xx....."},
		{faultstore.Rule{Op: faultstore.OpStat}, "xxxxxxx"},
		{faultstore.Rule{Op: faultstore.OpStat, Key: "other"}, "......."},
		{faultstore.Rule{Op: faultstore.OpGet}, "......."},
	} {
		fs := faultstore.New(inner)
		fs.Add(c.rule)
		if got := statPattern(t, ctx, fs, "k", 7); got != c.want {
			t.Errorf("rule {%v}: stats went %s, want %s", c.rule, got, c.want)
		}
	}
}

// Probabilistic rules replay from the seed.
func TestProbReplaysFromSeed(t *testing.T) {
	ctx := testCtx(t)
	inner := newLocal(t)
	put(t, ctx, inner, "k", []byte("x"))
	pattern := func(seed int64) string {
		fs := faultstore.NewSeeded(inner, seed)
		fs.Add(faultstore.Rule{Op: faultstore.OpStat, Prob: 0.3})
		p := statPattern(t, ctx, fs, "k", 200)
		if int64(strings.Count(p, "x")) != fs.Injected() {
			t.Fatalf("%d failures seen, Injected() = %d", strings.Count(p, "x"), fs.Injected())
		}
		return p
	}
	a, b, c := pattern(42), pattern(42), pattern(43)
	if a != b {
		t.Fatalf("seed 42 fired differently on two runs:\n%s\n%s", a, b)
	}
	if a == c {
		t.Fatalf("seeds 42 and 43 fired identically: %s", a)
	}
	if n := strings.Count(a, "x"); n == 0 || n == 200 {
		t.Fatalf("probability 0.3 fired %d times in 200 calls", n)
	}
}

// A hanging call blocks until its context ends and then fails with
// ErrUnavailable wrapping the context's error.
func TestHangHonoursContext(t *testing.T) {
	inner := newLocal(t)
	fs := faultstore.New(inner)
	fs.Add(faultstore.Rule{Op: faultstore.OpPut, Hang: true})

	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() {
		_, err := fs.Put(ctx, "k", strings.NewReader("x"), 1, store.PutOptions{})
		done <- err
	}()
	// Still blocked once the call has been counted and the rule fired.
	waitFor(t, func() bool { return fs.Injected() == 1 })
	select {
	case err := <-done:
		t.Fatalf("a hanging put returned before its context ended: %v", err)
	default:
	}
	cancel()
	err := <-done
	wantInjected(t, err, store.ErrUnavailable, "hung put")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("hung put: %v, want it to wrap context.Canceled", err)
	}
	if inner.Snapshot()[store.ReqPut] != 0 {
		t.Fatal("a hung put reached the wrapped store")
	}

	// A body hanging mid-stream ends with its Get's context too: the
	// context ends once the Get has returned and the bytes before the
	// fault are read, however long that took.
	put(t, testCtx(t), inner, "obj", []byte("0123456789"))
	fs.Clear()
	fs.Add(faultstore.Rule{Op: faultstore.OpRead, AfterBytes: 4, Hang: true})
	gctx, gcancel := context.WithCancel(testCtx(t))
	defer gcancel()
	r, _, err := fs.Get(gctx, "obj", store.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	defer r.Close()
	head := make([]byte, 4)
	if _, err := io.ReadFull(r, head); err != nil || string(head) != "0123" {
		t.Fatalf("the bytes before the fault: %q, %v", head, err)
	}
	gcancel()
	rest, err := io.ReadAll(r)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, store.ErrUnavailable) || len(rest) != 0 {
		t.Fatalf("hung body: read %q past the fault, err %v; want nothing and the context's error", rest, err)
	}
}

// A delay-only rule slows a call without failing it; a delay cut short
// by the context fails it before it reaches the store.
func TestDelay(t *testing.T) {
	ctx := testCtx(t)
	inner := newLocal(t)
	fs := faultstore.New(inner)
	fs.Add(faultstore.Rule{Op: faultstore.OpPut, Key: "slow", Delay: time.Millisecond})
	fs.Add(faultstore.Rule{Op: faultstore.OpPut, Key: "stuck", Delay: time.Hour})
	if _, err := fs.Put(ctx, "slow", strings.NewReader("x"), 1, store.PutOptions{}); err != nil {
		t.Fatalf("a delayed put failed: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	_, err := fs.Put(short, "stuck", strings.NewReader("x"), 1, store.PutOptions{})
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("a put delayed past its deadline: %v, want a deadline error", err)
	}
	if exists(ctx, inner, "stuck") || !exists(ctx, inner, "slow") {
		t.Fatal("the delayed put that timed out was stored, or the one that did not was not")
	}
	if fs.Injected() != 2 {
		t.Fatalf("Injected() = %d, want 2", fs.Injected())
	}
}

func TestKeyPatterns(t *testing.T) {
	ctx := testCtx(t)
	inner := newLocal(t)
	keys := []string{"vol1/a", "vol1/d/b", "vol10/a", "vol2/x.tmp", "top"}
	for _, k := range keys {
		put(t, ctx, inner, k, []byte("x"))
	}
	for _, c := range []struct {
		pattern string
		want    string // per key: x = fails
	}{
		{"", "xxxxx"},
		{"vol1", "xx..."},
		{"vol1/*", "xx..."},
		{"vol1/d/*", ".x..."},
		{"vol?", "xx.x."},
		{"*/*.tmp", "...x."},
		{"top", "....x"},
	} {
		fs := faultstore.New(inner)
		fs.Add(faultstore.Rule{Op: faultstore.OpStat, Key: c.pattern})
		var got strings.Builder
		for _, k := range keys {
			got.WriteString(statPattern(t, ctx, fs, k, 1))
		}
		if got.String() != c.want {
			t.Errorf("pattern %q failed %s over %q, want %s", c.pattern, got.String(), keys, c.want)
		}
	}
}

func TestRemoveAndClear(t *testing.T) {
	ctx := testCtx(t)
	inner := newLocal(t)
	put(t, ctx, inner, "k", []byte("x"))
	fs := faultstore.New(inner)
	a := fs.Add(faultstore.Rule{Op: faultstore.OpStat, Err: store.ErrAccessDenied})
	fs.Add(faultstore.Rule{Op: faultstore.OpStat})
	_, err := fs.Stat(ctx, "k")
	wantInjected(t, err, store.ErrAccessDenied, "the first rule added decides")
	fs.Remove(a)
	_, err = fs.Stat(ctx, "k")
	wantInjected(t, err, store.ErrUnavailable, "after removing the first rule")
	fs.Clear()
	if _, err := fs.Stat(ctx, "k"); err != nil {
		t.Fatalf("stat after Clear: %v", err)
	}
	if n := fs.Calls(faultstore.OpStat); n != 3 {
		t.Fatalf("Calls(stat) = %d, want 3", n)
	}
}

// Rules are added, removed and fired from many goroutines at once (run
// with -race).
func TestConcurrentUse(t *testing.T) {
	ctx := testCtx(t)
	inner := newLocal(t)
	put(t, ctx, inner, "k", []byte("0123456789"))
	fs := faultstore.NewSeeded(inner, 7)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				id := fs.Add(faultstore.Rule{Op: faultstore.Ops[(g+i)%len(faultstore.Ops)], Prob: 0.5})
				fs.Stat(ctx, "k")
				if r, _, err := fs.Get(ctx, "k", store.GetOptions{}); err == nil {
					io.Copy(io.Discard, r)
					r.Close()
				}
				for range fs.List(ctx, store.ListOptions{}) {
				}
				fs.Remove(id)
			}
		})
	}
	wg.Wait()
	if fs.Calls(faultstore.OpStat) != 400 {
		t.Fatalf("Calls(stat) = %d, want 400", fs.Calls(faultstore.OpStat))
	}
}

// waitFor waits until cond holds, failing t after the test timeout.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met before the deadline")
		}
		time.Sleep(time.Millisecond)
	}
}
