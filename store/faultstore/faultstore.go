// Package faultstore is a store.Store that injects failures into another
// one, to test how everything above the store behaves when a call fails, is
// slow, hangs, or loses its reply.
//
// A Store passes every call through to the store it wraps until a Rule
// matches the call. Rules select calls by operation (Op), by key pattern and
// by which matching call it is (the n-th, at most so many times, or with a
// seeded probability); a firing rule delays the call, hangs it until its
// context ends, or fails it with one of the store's error kinds. Multipart
// uploads returned by NewMultipart and the bodies returned by Get are wrapped
// too, so a part upload, a completion or a read in the middle of a body can
// fail on its own.
//
// A failed mutating call has not happened on the wrapped store (the fault is
// injected before the call), unless the rule sets AfterCall: then the call is
// made and its reply is replaced by the failure, the case of a write that
// happened but whose answer was lost.
//
// Injected errors are *store.Error values built with store.NewError, so
// errors.Is(err, store.ErrUnavailable) and the like work as for a real
// backend; their cause reads "injected fault (rule N)" so that logs say
// plainly where a failure came from.
//
// With no rules a Store is transparent (the storetest conformance suite
// passes through it). It is safe for concurrent use. Probabilistic rules draw
// from a generator seeded by NewSeeded: the same seed and the same sequence
// of calls fire the same faults.
package faultstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3vol/s3vol/store"
)

// Op names a kind of store call a Rule can match.
type Op string

// The operations a Rule can match. The empty Op matches every one.
const (
	OpStat         Op = "stat"
	OpGet          Op = "get"  // the Get call itself
	OpRead         Op = "read" // reading a Get body: fails mid-stream after Rule.AfterBytes bytes
	OpPut          Op = "put"
	OpNewMultipart Op = "multipart-new"
	OpUploadPart   Op = "multipart-part"
	OpCopyPart     Op = "multipart-copy"
	OpComplete     Op = "multipart-complete"
	OpAbort        Op = "multipart-abort"
	OpCopy         Op = "copy"
	OpList         Op = "list" // the fault is yielded by the iterator, after Rule.AfterBytes objects
	OpDelete       Op = "delete"
	OpDeleteMany   Op = "delete-many"
	OpAbortStale   Op = "abort-stale"
)

// Ops lists every operation, in a fixed order.
var Ops = []Op{OpStat, OpGet, OpRead, OpPut, OpNewMultipart, OpUploadPart, OpCopyPart,
	OpComplete, OpAbort, OpCopy, OpList, OpDelete, OpDeleteMany, OpAbortStale}

// Rule describes which calls fail and how.
//
// A rule matches a call when its Op is empty or equal to the call's and its
// Key pattern matches the call's key. Of the matching calls it fires on the
// Nth only (when Nth > 0), at most Times times (when Times > 0), and then
// with probability Prob (when Prob > 0; 0 means always).
//
// A firing rule waits Delay (cut short by the call's context), then, with
// Hang, blocks until the call's context ends and fails with ErrUnavailable
// wrapping the context's error. A rule that sets only Delay (no Err, no
// Hang) slows the call without failing it; any other rule fails it with Err
// (ErrUnavailable when nil).
//
// When several rules match a call, each counts the match, and the first one
// added that fires decides what happens.
type Rule struct {
	Op Op
	// Key is a path.Match pattern matched against the call's key (the
	// prefix for List and AbortStaleUploads, any of the keys for
	// DeleteMany). It also matches a key when it matches one of the key's
	// leading "/"-separated runs, so "vol1" and "vol1/*" select every key
	// under "vol1/". Empty matches every key. Add panics on a malformed
	// pattern.
	Key string
	// Nth fires the rule on the n-th matching call only (1-based); 0 fires
	// on every matching call.
	Nth int
	// Times caps how often the rule fires; 0 is unlimited.
	Times int
	// Prob is the probability that a matching call fires the rule, drawn
	// from the store's seeded generator; 0 means always.
	Prob float64
	// Err is the kind of failure, one of the store.Err* values;
	// store.ErrUnavailable when nil.
	Err error
	// Delay is waited before the call (or, for OpRead and OpList, at the
	// point of the fault), cut short when the call's context ends.
	Delay time.Duration
	// Hang blocks the call until its context ends, then fails it with
	// ErrUnavailable wrapping the context's error.
	Hang bool
	// AfterBytes places an OpRead fault after this many bytes of the body
	// and an OpList fault after this many objects; a body or listing that
	// ends sooner fails at its end instead.
	AfterBytes int64
	// AfterCall makes the call on the wrapped store and then reports the
	// failure instead of its result: the write happened, its reply was
	// lost. A Get's body is closed, a new multipart upload is left
	// unfinished, a listing yields all its objects and then the error.
	AfterCall bool
}

// fails reports whether a firing rule fails the call, as opposed to only
// delaying it.
func (r Rule) fails() bool { return r.Hang || r.Err != nil || r.Delay == 0 }

// matches reports whether the rule selects a call of op on key.
func (r Rule) matches(op Op, key string) bool {
	if r.Op != "" && r.Op != op {
		return false
	}
	return keyMatches(r.Key, key)
}

// keyMatches reports whether pattern matches key or one of its leading
// "/"-separated runs.
func keyMatches(pattern, key string) bool {
	if pattern == "" {
		return true
	}
	if ok, _ := path.Match(pattern, key); ok {
		return true
	}
	for i := range len(key) {
		if key[i] != '/' {
			continue
		}
		if ok, _ := path.Match(pattern, key[:i]); ok {
			return true
		}
	}
	return false
}

// rule is an added Rule with its counts.
type rule struct {
	Rule
	id      int
	matched int
	fired   int
}

// Store wraps a store.Store and injects the faults its rules describe.
type Store struct {
	inner store.Store

	mu     sync.Mutex
	rules  []*rule // in the order added
	nextID int
	rng    *rand.Rand
	calls  map[Op]int64

	injected atomic.Int64
}

var _ store.Store = (*Store)(nil)

// New wraps inner with no rules; probabilistic rules draw from seed 0.
func New(inner store.Store) *Store { return NewSeeded(inner, 0) }

// NewSeeded wraps inner with no rules; probabilistic rules draw from a
// generator seeded with seed, so a run replays from its seed.
func NewSeeded(inner store.Store, seed int64) *Store {
	return &Store{
		inner: inner,
		rng:   rand.New(rand.NewPCG(uint64(seed), 0x5eed_fa17)),
		calls: make(map[Op]int64),
	}
}

// Inner returns the wrapped store.
func (s *Store) Inner() store.Store { return s.inner }

// Add adds a rule and returns its id, for Remove.
func (s *Store) Add(r Rule) (id int) {
	if _, err := path.Match(r.Key, ""); err != nil {
		panic(fmt.Sprintf("faultstore: rule key pattern %q: %v", r.Key, err))
	}
	if r.Op != "" && !slices.Contains(Ops, r.Op) {
		panic(fmt.Sprintf("faultstore: unknown op %q (known: %v)", r.Op, Ops))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	s.rules = append(s.rules, &rule{Rule: r, id: s.nextID})
	return s.nextID
}

// Remove removes the rule with the given id; an unknown id is ignored.
func (s *Store) Remove(id int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = slices.DeleteFunc(s.rules, func(r *rule) bool { return r.id == id })
}

// Clear removes every rule: the store is transparent again.
func (s *Store) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = nil
}

// Injected returns how many times a rule fired so far (failures, hangs and
// delays).
func (s *Store) Injected() int64 { return s.injected.Load() }

// Calls returns how many calls of op went through the store so far, failed
// ones included. For OpRead it counts the bodies returned by Get, for
// OpList the listings started.
func (s *Store) Calls(op Op) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// fault is a rule that fired on one call.
type fault struct {
	Rule
	id  int
	op  Op
	key string
}

// decide counts a call of op on keys and returns the fault to inject, or
// nil. The fault's key is the first of keys the deciding rule matched.
func (s *Store) decide(op Op, keys ...string) *fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	var chosen *fault
	for _, r := range s.rules {
		key, ok := firstMatch(r.Rule, op, keys)
		if !ok {
			continue
		}
		r.matched++
		if chosen != nil || !s.fires(r) {
			continue
		}
		r.fired++
		chosen = &fault{Rule: r.Rule, id: r.id, op: op, key: key}
	}
	if chosen != nil {
		s.injected.Add(1)
	}
	return chosen
}

// firstMatch returns the first of keys that r matches for op.
func firstMatch(r Rule, op Op, keys []string) (string, bool) {
	for _, k := range keys {
		if r.matches(op, k) {
			return k, true
		}
	}
	return "", false
}

// fires reports whether r, just matched, fires now. The generator is drawn
// only when everything else says yes, so a seed replays exactly.
func (s *Store) fires(r *rule) bool {
	if r.Nth > 0 && r.matched != r.Nth {
		return false
	}
	if r.Times > 0 && r.fired >= r.Times {
		return false
	}
	return r.Prob <= 0 || s.rng.Float64() < r.Prob
}

// wait waits out f's delay; it fails only when the context ends first.
func (f *fault) wait(ctx context.Context) error {
	if f.Delay <= 0 {
		return nil
	}
	t := time.NewTimer(f.Delay)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return f.ctxErr(ctx, "delayed")
	}
}

// inject waits out f's delay or hang and returns the failure it injects,
// or nil for a delay-only fault. A nil f injects nothing.
func (f *fault) inject(ctx context.Context) error {
	if f == nil {
		return nil
	}
	if err := f.wait(ctx); err != nil {
		return err
	}
	if f.Hang {
		<-ctx.Done()
		return f.ctxErr(ctx, "hung")
	}
	if !f.fails() {
		return nil
	}
	return f.failure()
}

// failure is the error f reports.
func (f *fault) failure() error {
	kind := f.Err
	if kind == nil {
		kind = store.ErrUnavailable
	}
	return store.NewError(string(f.op), f.key, kind, fmt.Errorf("injected fault (rule %d)", f.id))
}

// ctxErr is the error of a call whose delay or hang the context ended.
func (f *fault) ctxErr(ctx context.Context, what string) error {
	return store.NewError(string(f.op), f.key, store.ErrUnavailable,
		fmt.Errorf("injected fault (rule %d): %s until the context ended: %w", f.id, what, context.Cause(ctx)))
}

// before injects f before a call: it returns the error that replaces the
// call, or nil to make it. An AfterCall fault only delays here.
func (f *fault) before(ctx context.Context) error {
	switch {
	case f == nil:
		return nil
	case f.AfterCall:
		return f.wait(ctx)
	}
	return f.inject(ctx)
}

// after returns the error that replaces the reply of a call that was made:
// nil unless f is an AfterCall fault that fails.
func (f *fault) after(ctx context.Context) error {
	if f == nil || !f.AfterCall || !f.fails() {
		return nil
	}
	if f.Hang {
		<-ctx.Done()
		return f.ctxErr(ctx, "hung")
	}
	return f.failure()
}

// String names the store for logs.
func (s *Store) String() string { return "faults(" + s.inner.String() + ")" }

// String describes the rule, for messages and logs.
func (r Rule) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "op=%q key=%q", r.Op, r.Key)
	if r.Nth > 0 {
		fmt.Fprintf(&b, " nth=%d", r.Nth)
	}
	if r.Times > 0 {
		fmt.Fprintf(&b, " times=%d", r.Times)
	}
	if r.Prob > 0 {
		fmt.Fprintf(&b, " prob=%g", r.Prob)
	}
	if r.Err != nil {
		fmt.Fprintf(&b, " err=%q", r.Err)
	}
	if r.Delay > 0 {
		fmt.Fprintf(&b, " delay=%s", r.Delay)
	}
	if r.Hang {
		b.WriteString(" hang")
	}
	if r.AfterBytes > 0 {
		fmt.Fprintf(&b, " after=%d", r.AfterBytes)
	}
	if r.AfterCall {
		b.WriteString(" after-call")
	}
	return b.String()
}
