// Package storetest is the conformance suite of store.Store: the same cases
// run against every backend (S3 on a real MinIO, the local folder), so that
// everything above the store can rely on one set of semantics.
//
// A backend's test calls Run with a function that returns a new, empty store
// for each case (a fresh bucket or folder).
package storetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/s3vol/s3vol/store"
)

// caseTimeout bounds every case, so a hung backend fails instead of hanging.
const caseTimeout = 3 * time.Minute

// Run runs the whole suite; newStore must return an empty store each call.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Ranges", testRanges},
		{"IfMatchPinsGet", testIfMatchGet},
		{"List", testList},
		{"ListManyKeys", testListMany},
		{"ListStopsEarly", testListStop},
		{"ListMetadata", testListMetadata},
		{"Keys", testKeys},
		{"UnusualKeys", func(t *testing.T, s store.Store) { CheckKeys(t, s, UnusualKeys(), false) }},
		{"KeyTooLong", testKeyTooLong},
		{"Metadata", testMetadata},
		{"Copy", testCopy},
		{"Missing", testMissing},
		{"DeleteMany", testDeleteMany},
		{"ConditionalCreateRace", testCreateRace},
		{"CASRace", testCASRace},
		{"ConditionalMultipart", testConditionalMultipart},
		{"MultipartAbort", testMultipartAbort},
		{"MultipartCopy", testMultipartCopy},
		{"AbortStaleUploads", testAbortStale},
		{"AbortUploadByID", testAbortUploadByID},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.fn(t, newStore(t)) })
	}
}

// testCtx is the context of one case.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), caseTimeout)
	t.Cleanup(cancel)
	return ctx
}

// randomData returns n reproducible pseudo-random bytes.
func randomData(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16)}).Read(b)
	return b
}

// wantKind fails t unless err wraps kind.
func wantKind(t *testing.T, err, kind error, what string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("%s: got error %v, want one wrapping %q", what, err, kind)
	}
	var se *store.Error
	if !errors.As(err, &se) {
		t.Fatalf("%s: error %v (%T) is not a *store.Error", what, err, err)
	}
}

// put stores body under key with a known size and fails t on error.
func put(t *testing.T, ctx context.Context, s store.Store, key string, body []byte, opts store.PutOptions) store.Object {
	t.Helper()
	o, err := s.Put(ctx, key, bytes.NewReader(body), int64(len(body)), opts)
	if err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
	return o
}

// get reads a whole object (or the range opts selects) and fails t on error.
func get(t *testing.T, ctx context.Context, s store.Store, key string, opts store.GetOptions) ([]byte, store.Object) {
	t.Helper()
	rc, o, err := s.Get(ctx, key, opts)
	if err != nil {
		t.Fatalf("get %q %+v: %v", key, opts, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("reading %q %+v: %v", key, opts, err)
	}
	return b, o
}

// wantBody fails t unless key holds exactly body.
func wantBody(t *testing.T, ctx context.Context, s store.Store, key string, body []byte) {
	t.Helper()
	got, o := get(t, ctx, s, key, store.GetOptions{})
	if !bytes.Equal(got, body) {
		t.Fatalf("get %q: got %d bytes %q..., want %d bytes %q...", key, len(got), head(got), len(body), head(body))
	}
	if o.Size != int64(len(body)) {
		t.Fatalf("get %q: Object.Size %d, want %d", key, o.Size, len(body))
	}
}

func head(b []byte) []byte { return b[:min(len(b), 16)] }

// listAll collects a listing and fails t on error.
func listAll(t *testing.T, ctx context.Context, s store.Store, opts store.ListOptions) []store.Object {
	t.Helper()
	var out []store.Object
	for o, err := range s.List(ctx, opts) {
		if err != nil {
			t.Fatalf("list %+v: %v", opts, err)
		}
		out = append(out, o)
	}
	return out
}

// wantGone fails t unless key is missing.
func wantGone(t *testing.T, ctx context.Context, s store.Store, key string) {
	t.Helper()
	_, err := s.Stat(ctx, key)
	wantKind(t, err, store.ErrNotFound, "stat of "+quote(key))
}

func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return `"` + s + `"`
}
