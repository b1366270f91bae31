package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/s3vol/s3vol/store"
)

// longKey builds a key of exactly n bytes whose components are at most 200
// bytes, which every S3 server stores (file-backed servers such as MinIO
// refuse components over 255 bytes).
func longKey(n int) string {
	var b strings.Builder
	b.WriteString("long/")
	for b.Len() < n {
		seg := min(200, n-b.Len())
		b.WriteString(strings.Repeat("k", seg))
		if b.Len() < n-1 {
			b.WriteByte('/')
		}
	}
	return b.String()[:n]
}

// PortableKeys are keys every S3 server accepts and every backend must
// store, list and read back exactly.
func PortableKeys() []string {
	return []string{
		"with space", "sp ace/in dir/ and lead",
		"ünïcödé/日本語/ключ", "emoji 🎉",
		"per%cent", "per%25cent", "%", "%%/%00",
		"plus+sign", "a+b=c&d?e#f;g,h@i", "tilde~caret^", "quote'dq\"",
		longKey(store.MaxKeyLen),
	}
}

// UnusualKeys are legal S3 keys that some servers refuse or mishandle:
// MinIO rejects empty components ("a//b"), "." and ".." components, a
// leading "/" and components over 255 bytes, and stores an object that is
// also a prefix of others ("obj" and "obj/child", "dir/" and "dir/x") but
// then leaves the longer keys out of listings. The suite accepts those
// failures from a backend, clearly logged; the local backend must store
// and list them all.
func UnusualKeys() []string {
	return []string{
		"a//b", "//", "./x", "x/./y", "x/../y", ".", "..", "...",
		"obj", "obj/child", "obj-x", "obj0",
		"dir/", "dir", "dir/x", "/leading",
		"single-" + strings.Repeat("c", store.MaxKeyLen-7),
		strings.Repeat("/", store.MaxKeyLen-1) + "z",
		strings.Repeat("%/", store.MaxKeyLen/2),
	}
}

// testKeys stores the portable keys and reads and lists them back.
func testKeys(t *testing.T, s store.Store) {
	CheckKeys(t, s, PortableKeys(), true)
}

// CheckKeys puts every key with the key as body, then checks Get and a full
// listing, and deletes them. With strict false, a key the backend refuses
// with ErrInvalidArgument is logged and skipped, and a key missing from the
// listing is logged if it lies under another stored key (MinIO hides
// "a/b" when "a" exists); a listing that holds a key never stored (a key
// the backend silently rewrote) always fails.
func CheckKeys(t *testing.T, s store.Store, keys []string, strict bool) {
	ctx := testCtx(t)
	var stored []string
	for _, k := range keys {
		_, err := s.Put(ctx, k, strings.NewReader(k), int64(len(k)), store.PutOptions{})
		if err != nil && !strict && errors.Is(err, store.ErrInvalidArgument) {
			t.Logf("%s refuses key %s: %v", s, quote(k), err)
			continue
		}
		if err != nil {
			t.Fatalf("put %s: %v", quote(k), err)
		}
		stored = append(stored, k)
	}
	for _, k := range stored {
		wantBody(t, ctx, s, k, []byte(k))
	}
	checkListsKeys(t, ctx, s, stored, strict)
	if err := s.DeleteMany(ctx, stored); err != nil {
		t.Fatalf("delete: %v", err)
	}
	for _, k := range stored {
		wantGone(t, ctx, s, k)
	}
	if rest := listAll(t, ctx, s, store.ListOptions{}); len(rest) != 0 {
		t.Fatalf("after deleting every key, the listing still has %d entries, first %q", len(rest), rest[0].Key)
	}
}

// checkListsKeys compares a full listing with the stored keys.
func checkListsKeys(t *testing.T, ctx context.Context, s store.Store, stored []string, strict bool) {
	t.Helper()
	want := slices.Sorted(slices.Values(stored))
	var got []string
	for _, o := range listAll(t, ctx, s, store.ListOptions{}) {
		got = append(got, o.Key)
	}
	if strict || !slices.IsSorted(got) {
		if !slices.Equal(got, want) {
			t.Fatalf("listing all keys:\n got %q\nwant %q", got, want)
		}
		return
	}
	for _, k := range got {
		if !slices.Contains(want, k) {
			t.Fatalf("the listing holds %s, a key that was never stored (a stored key was rewritten?); listed %q", quote(k), got)
		}
	}
	for _, k := range want {
		if slices.Contains(got, k) {
			continue
		}
		if !liesUnder(k, want) {
			t.Fatalf("the listing misses key %s; listed %q", quote(k), got)
		}
		t.Logf("%s leaves %s out of listings because another object is its prefix", s, quote(k))
	}
}

// liesUnder reports whether another key is a "directory" above k.
func liesUnder(k string, keys []string) bool {
	for _, j := range keys {
		if j != k && strings.HasPrefix(k, strings.TrimSuffix(j, "/")+"/") {
			return true
		}
	}
	return false
}

// testKeyTooLong: keys over 1024 bytes and the empty key are refused.
func testKeyTooLong(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	_, err := s.Put(ctx, longKey(store.MaxKeyLen+1), strings.NewReader("x"), 1, store.PutOptions{})
	wantKind(t, err, store.ErrInvalidArgument, "put of a 1025-byte key")
	_, err = s.Put(ctx, "", strings.NewReader("x"), 1, store.PutOptions{})
	wantKind(t, err, store.ErrInvalidArgument, "put of an empty key")
}
