package storetest

import (
	"bytes"
	"testing"

	"github.com/s3vol/s3vol/store"
)

// testRanges reads ranges at the edges of an object and of an empty one.
func testRanges(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	body := randomData(2, 1000)
	put(t, ctx, s, "obj", body, store.PutOptions{})
	put(t, ctx, s, "empty", nil, store.PutOptions{})

	cases := []struct {
		off, n int64
		want   []byte
	}{
		{0, 0, body},           // whole object
		{0, 1, body[:1]},       // first byte
		{999, 1, body[999:]},   // last byte
		{999, 0, body[999:]},   // from the last byte to the end
		{10, 20, body[10:30]},  // inside
		{990, 100, body[990:]}, // length past the end is truncated
		{0, 5000, body},
	}
	for _, c := range cases {
		got, o := get(t, ctx, s, "obj", store.GetOptions{Offset: c.off, Length: c.n})
		if !bytes.Equal(got, c.want) {
			t.Errorf("range %d+%d: got %d bytes, want %d", c.off, c.n, len(got), len(c.want))
		}
		if o.Size != int64(len(body)) {
			t.Errorf("range %d+%d: Object.Size %d, want the whole object's %d", c.off, c.n, o.Size, len(body))
		}
	}
	for _, off := range []int64{1000, 1001, 1 << 40} {
		rc, _, err := s.Get(ctx, "obj", store.GetOptions{Offset: off, Length: 10})
		if err == nil {
			rc.Close()
		}
		wantKind(t, err, store.ErrInvalidRange, "range starting past the end")
	}
	for _, c := range []store.GetOptions{{}, {Length: 10}, {Offset: 0, Length: 1}} {
		got, o := get(t, ctx, s, "empty", c)
		if len(got) != 0 || o.Size != 0 {
			t.Errorf("empty object, range %+v: got %d bytes, Size %d", c, len(got), o.Size)
		}
	}
}

// testIfMatchGet pins a version across ranged reads with IfMatch.
func testIfMatchGet(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	v1 := put(t, ctx, s, "pinned", []byte("version one"), store.PutOptions{})
	got, _ := get(t, ctx, s, "pinned", store.GetOptions{Offset: 8, IfMatch: v1.ETag})
	if string(got) != "one" {
		t.Fatalf("pinned read got %q, want %q", got, "one")
	}
	v2 := put(t, ctx, s, "pinned", []byte("version two"), store.PutOptions{})
	if v2.ETag == v1.ETag {
		t.Fatalf("different content, same ETag %q", v1.ETag)
	}
	rc, _, err := s.Get(ctx, "pinned", store.GetOptions{Offset: 8, IfMatch: v1.ETag})
	if err == nil {
		rc.Close()
	}
	wantKind(t, err, store.ErrPreconditionFailed, "get with the old version's ETag")
	got, _ = get(t, ctx, s, "pinned", store.GetOptions{Offset: 8, IfMatch: v2.ETag})
	if string(got) != "two" {
		t.Fatalf("pinned read got %q, want %q", got, "two")
	}
}
