package store_test

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/s3vol/s3vol/store"
)

// What a directory listing with sizes (`ls -l`) costs: LIST pages only,
// never a HEAD per entry.
func TestMeteredListingCost(t *testing.T) {
	m, _ := newS3(t, nil)
	ctx := ctxT(t)
	for i := range 30 {
		k := fmt.Sprintf("dir/f%02d", i)
		if _, err := m.Put(ctx, k, strings.NewReader(k), int64(len(k)), store.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	m.Reset()
	n := 0
	for o, err := range m.List(ctx, store.ListOptions{Prefix: "dir/", Delimiter: "/"}) {
		if err != nil || o.Size != 7 || o.Metadata != nil || o.ETag == "" || o.LastModified.IsZero() {
			t.Fatalf("entry %+v, %v: List must carry size, ETag and mtime", o, err)
		}
		n++
	}
	snap := m.Snapshot()
	if n != 30 || snap[store.ReqList] != 1 || snap[store.ReqStat] != 0 {
		t.Fatalf("listing %d entries cost %v, want 1 list and 0 stat", n, snap)
	}
	m.Reset()
	for range m.List(ctx, store.ListOptions{Prefix: "dir/", PageSize: 7}) {
	}
	if got := m.Snapshot()[store.ReqList]; got != 5 {
		t.Fatalf("30 keys in pages of 7 cost %d LIST requests, want 5", got)
	}
}

// Every kind of request is counted once per call, with the bytes moved.
func TestMeteredCounts(t *testing.T) {
	m, _ := newS3(t, nil)
	ctx := ctxT(t)
	if _, err := m.Put(ctx, "a", strings.NewReader("hello"), 5, store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Stat(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	r, _, err := m.Get(ctx, "a", store.GetOptions{Offset: 1, Length: 3})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, r)
	r.Close()
	if _, err := m.Copy(ctx, "a", "b", store.CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	m.Stat(ctx, "missing") // failed calls count too
	mp, err := m.NewMultipart(ctx, "c", store.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mp.UploadPart(ctx, 1, strings.NewReader("xy"), 2)
	if _, err := mp.Complete(ctx); err != nil {
		t.Fatal(err)
	}
	mp, _ = m.NewMultipart(ctx, "d", store.PutOptions{})
	mp.CopyPart(ctx, 1, "a", "0123", 0, 1) // fails: the ETag differs
	mp.Abort(ctx)
	m.Delete(ctx, "a")
	m.DeleteMany(ctx, []string{"b", "c"})
	m.AbortStaleUploads(ctx, "", 0)
	want := map[string]int64{
		store.ReqPut: 1, store.ReqStat: 2, store.ReqGet: 1, store.ReqCopy: 1,
		store.ReqMultipartCreate: 2, store.ReqMultipartPart: 1, store.ReqMultipartCopy: 1, store.ReqMultipartDone: 1,
		store.ReqMultipartAbort: 1, store.ReqDelete: 2, store.ReqAbortStale: 1, store.ReqList: 0,
		store.BytesRead: 3, store.BytesWritten: 7,
	}
	if got := m.Snapshot(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("counts\n got %v\nwant %v", got, want)
	}
}

// plainStore hides the backend's ListPaged, as a backend without page
// reporting would.
type plainStore struct{ store.Store }

// Without page reporting, Metered counts one page per DefaultPage keys.
func TestMeteredPagesWithoutBackendHelp(t *testing.T) {
	m, _ := newS3(t, nil)
	ctx := ctxT(t)
	for i := range 12 {
		k := fmt.Sprintf("k%02d", i)
		m.Put(ctx, k, strings.NewReader(k), 3, store.PutOptions{})
	}
	pm := store.NewMetered(plainStore{m.Store})
	for range pm.List(ctx, store.ListOptions{PageSize: 5}) {
	}
	if got := pm.Snapshot()[store.ReqList]; got != 3 {
		t.Fatalf("12 keys in pages of 5 estimated as %d pages, want 3", got)
	}
}
