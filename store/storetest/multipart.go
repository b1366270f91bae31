package storetest

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3vol/s3vol/store"
)

// testConditionalMultipart: the conditions given to NewMultipart are
// checked when the upload completes.
func testConditionalMultipart(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	mp := startUpload(t, ctx, s, "cond/mp", store.PutOptions{IfNoneMatch: true}, "first")
	put(t, ctx, s, "cond/mp", []byte("got there first"), store.PutOptions{})
	_, err := mp.Complete(ctx)
	wantKind(t, err, store.ErrPreconditionFailed, "completing a create-only upload of an existing key")
	mp.Abort(ctx)
	wantBody(t, ctx, s, "cond/mp", []byte("got there first"))

	cur, err := s.Stat(ctx, "cond/mp")
	if err != nil {
		t.Fatalf("stat: %v", err)
	}
	mp = startUpload(t, ctx, s, "cond/mp", store.PutOptions{IfMatch: cur.ETag}, "swapped")
	if _, err := mp.Complete(ctx); err != nil {
		t.Fatalf("completing an If-Match upload whose ETag still holds: %v", err)
	}
	wantBody(t, ctx, s, "cond/mp", []byte("swapped"))
}

// startUpload begins an upload of key with a single part holding body.
func startUpload(t *testing.T, ctx context.Context, s store.Store, key string, opts store.PutOptions, body string) store.Multipart {
	t.Helper()
	mp, err := s.NewMultipart(ctx, key, opts)
	if err != nil {
		t.Fatalf("new multipart %q: %v", key, err)
	}
	if err := mp.UploadPart(ctx, 1, strings.NewReader(body), int64(len(body))); err != nil {
		t.Fatalf("upload part of %q: %v", key, err)
	}
	return mp
}

// testMultipartAbort: an aborted upload leaves nothing visible, and
// aborting twice is harmless.
func testMultipartAbort(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	part := randomData(4, store.MinPartSize)
	mp, err := s.NewMultipart(ctx, "aborted", store.PutOptions{})
	if err != nil {
		t.Fatalf("new multipart: %v", err)
	}
	for n := 1; n <= 2; n++ {
		if err := mp.UploadPart(ctx, n, bytes.NewReader(part), int64(len(part))); err != nil {
			t.Fatalf("upload part %d: %v", n, err)
		}
	}
	if err := mp.Abort(ctx); err != nil {
		t.Fatalf("abort: %v", err)
	}
	if err := mp.Abort(ctx); err != nil {
		t.Fatalf("second abort: %v", err)
	}
	wantGone(t, ctx, s, "aborted")
	if l := listAll(t, ctx, s, store.ListOptions{}); len(l) != 0 {
		t.Fatalf("after an abort the store lists %q", Names(l))
	}
	if _, err := mp.Complete(ctx); err == nil {
		t.Fatalf("completing an aborted upload succeeded")
	}
	wantGone(t, ctx, s, "aborted")
	if n, err := s.AbortStaleUploads(ctx, "", 0); err != nil || n != 0 {
		t.Fatalf("after the abort, AbortStaleUploads found %d uploads (err %v), want none", n, err)
	}
}

// testAbortStale: AbortStaleUploads aborts old uploads under the prefix
// only, and counts them.
func testAbortStale(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	stale := []store.Multipart{
		startUpload(t, ctx, s, "stale/1", store.PutOptions{}, "one"),
		startUpload(t, ctx, s, "stale/2", store.PutOptions{}, "two"),
	}
	other := startUpload(t, ctx, s, "other/1", store.PutOptions{}, "other")
	if n, err := s.AbortStaleUploads(ctx, "stale/", time.Hour); err != nil || n != 0 {
		t.Fatalf("AbortStaleUploads of uploads older than an hour: %d aborted (err %v), want 0", n, err)
	}
	// Every upload has started more than a nanosecond ago by now: servers
	// keep start times truncated (to the millisecond or the second), never
	// later than the start, so no waiting is needed for them to count.
	n, err := s.AbortStaleUploads(ctx, "stale/", time.Nanosecond)
	if err != nil || n != 2 {
		t.Fatalf("AbortStaleUploads: %d aborted (err %v), want 2", n, err)
	}
	for _, mp := range stale {
		if _, err := mp.Complete(ctx); err == nil {
			t.Fatalf("an upload aborted as stale could still complete")
		}
	}
	if _, err := other.Complete(ctx); err != nil {
		t.Fatalf("the upload outside the prefix was aborted too: %v", err)
	}
	got := Names(listAll(t, ctx, s, store.ListOptions{}))
	if !slices.Equal(got, []string{"other/1"}) {
		t.Fatalf("store lists %q, want just other/1", got)
	}
}

// testMultipartCopy: an upload mixes uploaded parts with ranges copied
// from another object, pinned to that object's ETag.
func testMultipartCopy(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	src := randomData(5, store.MinPartSize+1000)
	srcObj := put(t, ctx, s, "copy/src", src, store.PutOptions{})
	uploaded := randomData(6, store.MinPartSize)

	mp, err := s.NewMultipart(ctx, "copy/dst", store.PutOptions{})
	if err != nil {
		t.Fatalf("new multipart: %v", err)
	}
	defer mp.Abort(ctx)
	if err := mp.UploadPart(ctx, 1, bytes.NewReader(uploaded), int64(len(uploaded))); err != nil {
		t.Fatalf("upload part 1: %v", err)
	}
	if err := mp.CopyPart(ctx, 2, "copy/src", srcObj.ETag, 1000, store.MinPartSize); err != nil {
		t.Fatalf("copy part 2 (bytes 1000- of the source): %v", err)
	}
	if err := mp.CopyPart(ctx, 3, "copy/src", srcObj.ETag, 0, 1000); err != nil {
		t.Fatalf("copy part 3 (the source's first 1000 bytes): %v", err)
	}
	obj, err := mp.Complete(ctx)
	if err != nil {
		t.Fatalf("complete: %v", err)
	}
	want := slices.Concat(uploaded, src[1000:], src[:1000])
	if obj.Size != int64(len(want)) {
		t.Fatalf("completed object has size %d, want %d", obj.Size, len(want))
	}
	wantBody(t, ctx, s, "copy/dst", want)

	bad, err := s.NewMultipart(ctx, "copy/bad", store.PutOptions{})
	if err != nil {
		t.Fatalf("new multipart: %v", err)
	}
	defer bad.Abort(ctx)
	err = bad.CopyPart(ctx, 1, "copy/src", "0123456789abcdef0123456789abcdef", 0, 1000)
	wantKind(t, err, store.ErrPreconditionFailed, "copying a part from a source whose ETag changed")
	err = bad.CopyPart(ctx, 1, "copy/missing", srcObj.ETag, 0, 1000)
	wantKind(t, err, store.ErrNotFound, "copying a part from a missing source")
	if err := bad.CopyPart(ctx, 1, "copy/src", srcObj.ETag, int64(len(src)), 10); err == nil {
		t.Fatalf("copying bytes past the end of the source succeeded")
	}
	err = bad.CopyPart(ctx, 1, "copy/src", srcObj.ETag, 0, 0)
	wantKind(t, err, store.ErrInvalidArgument, "copying an empty range")
}

// testAbortUploadByID: an upload is aborted by its key and id, as a
// process that did not start it does for one whose process died. Aborting
// an upload that is gone, or by the id of another key's upload, does
// nothing (S3 answers NoSuchUpload, MinIO succeeds).
func testAbortUploadByID(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	if _, ok := s.(store.UploadAborter); !ok {
		t.Skip("the store cannot abort an upload by its id")
	}
	a := startUpload(t, ctx, s, "byid/a", store.PutOptions{}, "a")
	b := startUpload(t, ctx, s, "byid/b", store.PutOptions{}, "b")
	idA, idB := store.UploadID(a), store.UploadID(b)
	if idA == "" || idB == "" || idA == idB {
		t.Fatalf("upload ids %q and %q: want two different ones", idA, idB)
	}
	if err := store.AbortUpload(ctx, s, "byid/b", idA); err != nil && !store.IsNotFound(err) {
		t.Fatalf("aborting by the id of another key's upload: %v", err)
	}
	if _, err := a.Complete(ctx); err != nil {
		t.Fatalf("an abort under another key aborted the upload: %v", err)
	}
	if err := store.AbortUpload(ctx, s, "byid/b", idB); err != nil {
		t.Fatalf("aborting an upload by its id: %v", err)
	}
	if _, err := b.Complete(ctx); err == nil {
		t.Fatal("an upload aborted by its id could still complete")
	}
	if err := store.AbortUpload(ctx, s, "byid/b", idB); err != nil && !store.IsNotFound(err) {
		t.Fatalf("aborting it again: %v", err)
	}
	wantKind(t, store.AbortUpload(ctx, s, "byid/b", ""), store.ErrInvalidArgument, "aborting with no id")
}
