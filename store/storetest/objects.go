package storetest

import (
	"context"
	"fmt"
	"maps"
	"testing"

	"github.com/s3vol/s3vol/store"
)

// testMetadata: user metadata comes back from Put, Stat and Get with
// lower-cased keys and unchanged values.
func testMetadata(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	meta := map[string]string{"Mode": "0644", "uid": "1000", "X-Mixed-Case": "Value With Spaces"}
	want := map[string]string{"mode": "0644", "uid": "1000", "x-mixed-case": "Value With Spaces"}
	o := put(t, ctx, s, "meta", []byte("body"), store.PutOptions{Metadata: meta, ContentType: "text/plain"})
	if !maps.Equal(o.Metadata, want) {
		t.Errorf("put returned metadata %v, want %v", o.Metadata, want)
	}
	st, err := s.Stat(ctx, "meta")
	if err != nil {
		t.Fatalf("stat: %v", err)
	}
	if !maps.Equal(st.Metadata, want) {
		t.Errorf("stat metadata %v, want %v", st.Metadata, want)
	}
	_, g := get(t, ctx, s, "meta", store.GetOptions{Offset: 1})
	if !maps.Equal(g.Metadata, want) {
		t.Errorf("get metadata %v, want %v", g.Metadata, want)
	}
	o = put(t, ctx, s, "plain", []byte("body"), store.PutOptions{})
	if len(o.Metadata) != 0 {
		t.Errorf("object stored without metadata has %v", o.Metadata)
	}
}

// testCopy: a copy keeps the source's metadata or replaces it entirely,
// honours IfMatch on the source, and leaves the source alone.
func testCopy(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	body := randomData(3, 3<<20)
	src := put(t, ctx, s, "src", body, store.PutOptions{Metadata: map[string]string{"a": "1", "b": "2"}})

	kept, err := s.Copy(ctx, "src", "copies/kept", store.CopyOptions{})
	if err != nil {
		t.Fatalf("copy: %v", err)
	}
	wantBody(t, ctx, s, "copies/kept", body)
	wantMeta(t, ctx, s, "copies/kept", map[string]string{"a": "1", "b": "2"})
	if kept.Size != src.Size || kept.ETag == "" {
		t.Errorf("copy returned %+v, want size %d and an ETag", kept, src.Size)
	}

	_, err = s.Copy(ctx, "src", "copies/replaced", store.CopyOptions{
		ReplaceMetadata: true, Metadata: map[string]string{"C": "3"}, IfMatch: src.ETag})
	if err != nil {
		t.Fatalf("copy with metadata replace: %v", err)
	}
	wantBody(t, ctx, s, "copies/replaced", body)
	wantMeta(t, ctx, s, "copies/replaced", map[string]string{"c": "3"})

	// Replacing an object's metadata in place, the way chmod will.
	if _, err := s.Copy(ctx, "src", "src", store.CopyOptions{ReplaceMetadata: true, Metadata: map[string]string{"a": "9"}}); err != nil {
		t.Fatalf("copy onto itself: %v", err)
	}
	wantBody(t, ctx, s, "src", body)
	wantMeta(t, ctx, s, "src", map[string]string{"a": "9"})

	put(t, ctx, s, "src", []byte("changed"), store.PutOptions{})
	_, err = s.Copy(ctx, "src", "copies/stale", store.CopyOptions{IfMatch: src.ETag})
	wantKind(t, err, store.ErrPreconditionFailed, "copy from a source that changed")
	wantGone(t, ctx, s, "copies/stale")
	_, err = s.Copy(ctx, "missing", "copies/none", store.CopyOptions{})
	wantKind(t, err, store.ErrNotFound, "copy from a missing source")
}

func wantMeta(t *testing.T, ctx context.Context, s store.Store, key string, want map[string]string) {
	t.Helper()
	st, err := s.Stat(ctx, key)
	if err != nil {
		t.Fatalf("stat %q: %v", key, err)
	}
	if !maps.Equal(st.Metadata, want) {
		t.Errorf("%q has metadata %v, want %v", key, st.Metadata, want)
	}
}

// testMissing: reading a missing key is ErrNotFound, deleting it is fine.
func testMissing(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	_, err := s.Stat(ctx, "nope")
	wantKind(t, err, store.ErrNotFound, "stat of a missing key")
	rc, _, err := s.Get(ctx, "nope", store.GetOptions{})
	if err == nil {
		rc.Close()
	}
	wantKind(t, err, store.ErrNotFound, "get of a missing key")
	rc, _, err = s.Get(ctx, "nope", store.GetOptions{Offset: 10, Length: 5})
	if err == nil {
		rc.Close()
	}
	wantKind(t, err, store.ErrNotFound, "ranged get of a missing key")
	if err := s.Delete(ctx, "nope"); err != nil {
		t.Fatalf("delete of a missing key: %v", err)
	}
	// A key that is only a prefix of others is not an object.
	put(t, ctx, s, "dir/child", []byte("x"), store.PutOptions{})
	_, err = s.Stat(ctx, "dir")
	wantKind(t, err, store.ErrNotFound, "stat of a key that is only a prefix")
	if err := s.Delete(ctx, "dir"); err != nil {
		t.Fatalf("delete of a prefix-only key: %v", err)
	}
	wantBody(t, ctx, s, "dir/child", []byte("x"))
}

// testDeleteMany removes 2500 keys (more than one S3 batch) plus missing
// ones, and nothing else.
func testDeleteMany(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	var keys []string
	for i := range 2500 {
		keys = append(keys, fmt.Sprintf("del/%02d/%04d", i%10, i))
	}
	putAll(t, ctx, s, append(keys, "keep"), 16)
	if err := s.DeleteMany(ctx, append(keys, "del/missing", "missing")); err != nil {
		t.Fatalf("delete many: %v", err)
	}
	left := Names(listAll(t, ctx, s, store.ListOptions{}))
	if len(left) != 1 || left[0] != "keep" {
		t.Fatalf("after deleting 2500 keys the store lists %d keys (first %q), want just \"keep\"", len(left), left[:min(len(left), 3)])
	}
	if err := s.DeleteMany(ctx, nil); err != nil {
		t.Fatalf("delete of no keys: %v", err)
	}
}
