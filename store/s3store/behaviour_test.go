package s3store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/s3vol/s3vol/internal/bufpool"
	"github.com/s3vol/s3vol/store"
)

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b
}

func mustPut(t *testing.T, s store.Store, key string, data []byte, opts store.PutOptions) store.Object {
	t.Helper()
	obj, err := s.Put(ctxT(t), key, bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return obj
}

func readAll(t *testing.T, s store.Store, key string, opts store.GetOptions) ([]byte, store.Object) {
	t.Helper()
	r, obj, err := s.Get(ctxT(t), key, opts)
	if err != nil {
		t.Fatalf("get %s %+v: %v", key, opts, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	return b, obj
}

// The condition of a multipart upload is checked when it completes: a
// create-only upload loses to an object created after it started, and the
// winner's object stays.
func TestMultipartConditionCheckedAtComplete(t *testing.T) {
	s := newStore(t)
	ctx := ctxT(t)
	mp, err := s.NewMultipart(ctx, "k", store.PutOptions{IfNoneMatch: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := mp.UploadPart(ctx, 1, strings.NewReader("loser"), 5); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "k", []byte("winner"), store.PutOptions{IfNoneMatch: true})
	if _, err := mp.Complete(ctx); !store.IsPreconditionFailed(err) {
		t.Fatalf("create-only Complete over an existing object: got %v, want ErrPreconditionFailed", err)
	}
	mp.Abort(ctx)
	if got, _ := readAll(t, s, "k", store.GetOptions{}); string(got) != "winner" {
		t.Fatalf("object is %q, want the winner's", got)
	}

	// Compare-and-swap: the ETag changes between start and Complete.
	cur := mustPut(t, s, "cas", []byte("v1"), store.PutOptions{})
	mp, err = s.NewMultipart(ctx, "cas", store.PutOptions{IfMatch: cur.ETag})
	if err != nil {
		t.Fatal(err)
	}
	mp.UploadPart(ctx, 1, strings.NewReader("v3"), 2)
	mustPut(t, s, "cas", []byte("v2"), store.PutOptions{IfMatch: cur.ETag})
	if _, err := mp.Complete(ctx); !store.IsPreconditionFailed(err) {
		t.Fatalf("CAS Complete after the ETag moved: got %v, want ErrPreconditionFailed", err)
	}
	mp.Abort(ctx)
	if got, _ := readAll(t, s, "cas", store.GetOptions{}); string(got) != "v2" {
		t.Fatalf("object is %q, want v2", got)
	}
}

// A compare-and-swap on a missing key fails its precondition (and still
// reads as not found).
func TestIfMatchOnMissingKey(t *testing.T) {
	s := newStore(t)
	_, err := s.Put(ctxT(t), "absent", strings.NewReader("x"), 1, store.PutOptions{IfMatch: "0123"})
	if !store.IsPreconditionFailed(err) || !store.IsNotFound(err) {
		t.Fatalf("got %v, want ErrPreconditionFailed that is also ErrNotFound", err)
	}
	if _, err := s.Stat(ctxT(t), "absent"); !store.IsNotFound(err) {
		t.Fatalf("the failed CAS created the object: %v", err)
	}
}

func TestRangeEdges(t *testing.T) {
	s := newStore(t)
	data := randomBytes(1, 1000)
	mustPut(t, s, "k", data, store.PutOptions{})
	mustPut(t, s, "empty", nil, store.PutOptions{})
	for _, c := range []struct {
		off, n int64
		want   []byte
	}{
		{0, 0, data}, {999, 1, data[999:]}, {999, 0, data[999:]}, {990, 100, data[990:]},
		{0, 1, data[:1]}, {500, 250, data[500:750]},
	} {
		got, obj := readAll(t, s, "k", store.GetOptions{Offset: c.off, Length: c.n})
		if !bytes.Equal(got, c.want) || obj.Size != 1000 {
			t.Errorf("range %d+%d: got %d bytes (size %d), want %d bytes (size 1000)", c.off, c.n, len(got), obj.Size, len(c.want))
		}
	}
	for _, off := range []int64{1000, 5000} {
		_, _, err := s.Get(ctxT(t), "k", store.GetOptions{Offset: off, Length: 10})
		if !errors.Is(err, store.ErrInvalidRange) {
			t.Errorf("range at %d of a 1000-byte object: got %v, want ErrInvalidRange", off, err)
		}
	}
	for _, o := range []store.GetOptions{{Offset: 0, Length: 10}, {Offset: 5}, {Offset: 3, Length: 1}} {
		if got, obj := readAll(t, s, "empty", o); len(got) != 0 || obj.Size != 0 {
			t.Errorf("range %+v of an empty object: %d bytes, size %d", o, len(got), obj.Size)
		}
	}
	if _, _, err := s.Get(ctxT(t), "empty", store.GetOptions{Offset: 3, IfMatch: "stale"}); !store.IsPreconditionFailed(err) {
		t.Errorf("pinned range of a changed empty object: got %v, want ErrPreconditionFailed", err)
	}
}

// countingSource yields n pseudo-random bytes without holding them, and
// hashes what it hands out.
type countingSource struct {
	rng  *rand.ChaCha8
	left int64
	sum  io.Writer
}

func (c *countingSource) Read(p []byte) (int, error) {
	if c.left == 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), c.left)]
	c.rng.Read(p)
	c.sum.Write(p)
	c.left -= int64(len(p))
	return len(p), nil
}

// An unknown-size Put of 64 MiB streams as a multipart upload whose part
// buffers stay within the memory pool, and the process allocates a small
// multiple of that, not minio-go's half-gigabyte buffers.
func TestUnknownSizePutBoundedMemory(t *testing.T) {
	srv := sharedSrv(t)
	cfg := testConfig(srv, srv.NewBucket(t))
	const part, conc = 8 << 20, 2
	pool := bufpool.New((conc + 1) * part)
	cfg.Upload = store.WriterOptions{PartSize: part, Concurrency: conc, Pool: pool}
	s := newStoreCfg(t, cfg)

	const size = 64 << 20
	h := sha256.New()
	src := &countingSource{rng: rand.NewChaCha8([32]byte{7}), left: size, sum: h}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	obj, err := s.Put(ctxT(t), "big", src, -1, store.PutOptions{Metadata: map[string]string{"K": "v"}})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	if _, peak := pool.InUse(); peak > pool.Budget() {
		t.Fatalf("part buffers peaked at %d bytes, over the %d budget", peak, pool.Budget())
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 3*size {
		t.Fatalf("the upload allocated %d MiB for a %d MiB object", alloc>>20, size>>20)
	}
	if obj.Size != size || obj.Metadata["k"] != "v" {
		t.Fatalf("Put returned %+v", obj)
	}
	st, err := s.Stat(ctxT(t), "big")
	if err != nil || st.Size != size || st.ETag != obj.ETag || !strings.Contains(st.ETag, "-") {
		t.Fatalf("stat %+v, %v; want a multipart object of %d bytes with ETag %s", st, err, size, obj.ETag)
	}
	r, _, err := s.Get(ctxT(t), "big", store.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h2 := sha256.New()
	if _, err := io.Copy(h2, r); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Sum(nil), h2.Sum(nil)) {
		t.Fatal("content read back differs from what was written")
	}
}

// A known-size Put whose reader ends early stores nothing.
func TestShortBody(t *testing.T) {
	s := newStore(t)
	for _, size := range []int64{10, 20 << 20} {
		data := randomBytes(3, int(size/2))
		_, err := s.Put(ctxT(t), "short", bytes.NewReader(data), size, store.PutOptions{})
		if !errors.Is(err, store.ErrInvalidArgument) {
			t.Fatalf("put of %d bytes from a %d-byte reader: got %v, want ErrInvalidArgument", size, len(data), err)
		}
		if _, err := s.Stat(ctxT(t), "short"); !store.IsNotFound(err) {
			t.Fatalf("a short put left an object: %v", err)
		}
	}
	if n := uploads(t, s, ""); n != 0 {
		t.Fatalf("%d multipart uploads left behind", n)
	}
}

// uploads counts the unfinished multipart uploads under prefix.
func uploads(t *testing.T, s *Store, prefix string) int {
	t.Helper()
	n := 0
	for up := range s.core.Client.ListIncompleteUploads(ctxT(t), s.bucket, prefix, true) {
		if up.Err != nil {
			t.Fatal(up.Err)
		}
		n++
	}
	return n
}

func TestMultipartAbortRemovesParts(t *testing.T) {
	s := newStore(t)
	ctx := ctxT(t)
	mp, err := s.NewMultipart(ctx, "m", store.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := mp.UploadPart(ctx, 1, bytes.NewReader(randomBytes(1, store.MinPartSize)), store.MinPartSize); err != nil {
		t.Fatal(err)
	}
	if n := uploads(t, s, "m"); n != 1 {
		t.Fatalf("%d uploads in progress, want 1", n)
	}
	if err := mp.Abort(ctx); err != nil {
		t.Fatal(err)
	}
	if err := mp.Abort(ctx); err != nil {
		t.Fatalf("second abort: %v", err)
	}
	if n := uploads(t, s, "m"); n != 0 {
		t.Fatalf("%d uploads left after abort", n)
	}
	if _, err := s.Stat(ctx, "m"); !store.IsNotFound(err) {
		t.Fatalf("aborted upload left an object: %v", err)
	}
	// Complete with a gap in the parts is refused before any request.
	mp, _ = s.NewMultipart(ctx, "gap", store.PutOptions{})
	defer mp.Abort(ctx)
	mp.UploadPart(ctx, 2, strings.NewReader("x"), 1)
	if _, err := mp.Complete(ctx); !errors.Is(err, store.ErrInvalidArgument) {
		t.Fatalf("Complete with part 1 missing: got %v, want ErrInvalidArgument", err)
	}
	if err := mp.UploadPart(ctx, 10001, strings.NewReader("x"), 1); !errors.Is(err, store.ErrInvalidArgument) {
		t.Fatalf("part 10001: got %v, want ErrInvalidArgument", err)
	}
}

// Objects over 5 GiB are copied part by part; the test lowers the limit
// to drive that path with a small object.
func TestCopyMultipartPath(t *testing.T) {
	s := newStore(t)
	oldLimit, oldPart := copyLimit, copyPartSize
	copyLimit, copyPartSize = 1<<20, store.MinPartSize
	t.Cleanup(func() { copyLimit, copyPartSize = oldLimit, oldPart })

	data := randomBytes(9, 12<<20+3)
	src := mustPut(t, s, "src", data, store.PutOptions{Metadata: map[string]string{"a": "1"}, ContentType: "text/x-test"})
	for _, replace := range []bool{false, true} {
		obj, err := s.Copy(ctxT(t), "src", "dst", store.CopyOptions{ReplaceMetadata: replace, Metadata: map[string]string{"B": "2"}})
		if err != nil {
			t.Fatal(err)
		}
		got, st := readAll(t, s, "dst", store.GetOptions{})
		if !bytes.Equal(got, data) || obj.Size != int64(len(data)) || st.ETag != obj.ETag {
			t.Fatalf("copy (replace %v): %d bytes, obj %+v, stat ETag %s", replace, len(got), obj, st.ETag)
		}
		want := map[string]string{"a": "1"}
		if replace {
			want = map[string]string{"b": "2"}
		}
		if fmt.Sprint(st.Metadata) != fmt.Sprint(want) || fmt.Sprint(obj.Metadata) != fmt.Sprint(want) {
			t.Fatalf("copy (replace %v): metadata %v (returned %v), want %v", replace, st.Metadata, obj.Metadata, want)
		}
		info, err := s.core.Client.StatObject(ctxT(t), s.bucket, "dst", minio.StatObjectOptions{})
		if err != nil || info.ContentType != "text/x-test" {
			t.Fatalf("content type %q (%v), want the source's", info.ContentType, err)
		}
	}
	if _, err := s.Copy(ctxT(t), "src", "dst2", store.CopyOptions{IfMatch: "stale"}); !store.IsPreconditionFailed(err) {
		t.Fatalf("copy pinned to a stale ETag: got %v", err)
	}
	if _, err := s.Copy(ctxT(t), "src", "dst3", store.CopyOptions{IfMatch: src.ETag}); err != nil {
		t.Fatalf("copy pinned to the current ETag: %v", err)
	}
	if n := uploads(t, s, ""); n != 0 {
		t.Fatalf("%d multipart uploads left behind", n)
	}
}

// Listing more than a page costs one LIST request per 1000 keys, merges
// common prefixes in order, and DeleteMany deletes in batches of 1000.
func TestListPagesAndBatches(t *testing.T) {
	s := newStore(t)
	m := store.NewMetered(s)
	ctx := ctxT(t)
	var keys []string
	for i := range 2100 {
		keys = append(keys, fmt.Sprintf("d%d/k%04d", i%3, i))
	}
	// Not "d1" itself: MinIO does not list "d1/..." keys when "d1" is an
	// object too.
	keys = append(keys, "d1-x", "d1.txt", "e")
	putMany(t, s, keys)
	n := 0
	for _, err := range m.List(ctx, store.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if snap := m.Snapshot(); n != len(keys) || snap[store.ReqList] != 3 {
		t.Fatalf("listed %d of %d keys in %d pages, want 3", n, len(keys), snap[store.ReqList])
	}
	var top []string
	for o, err := range m.List(ctx, store.ListOptions{Delimiter: "/"}) {
		if err != nil {
			t.Fatal(err)
		}
		top = append(top, fmt.Sprintf("%s:%v", o.Key, o.IsPrefix))
	}
	want := "[d0/:true d1-x:false d1.txt:false d1/:true d2/:true e:false]"
	if fmt.Sprint(top) != want {
		t.Fatalf("delimited listing %v, want %s", top, want)
	}
	m.Reset()
	if err := m.DeleteMany(ctx, keys); err != nil {
		t.Fatal(err)
	}
	if snap := m.Snapshot(); snap[store.ReqDelete] != 3 {
		t.Fatalf("DeleteMany of %d keys counted %d requests, want 3", len(keys), snap[store.ReqDelete])
	}
	for _, err := range s.List(ctx, store.ListOptions{}) {
		t.Fatalf("keys left after DeleteMany (err %v)", err)
	}
}

// putMany stores small objects with a few uploads in flight.
func putMany(t *testing.T, s store.Store, keys []string) {
	t.Helper()
	errs := make(chan error, len(keys))
	sem := make(chan struct{}, 16)
	for _, k := range keys {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			_, err := s.Put(ctxT(t), k, strings.NewReader(k), int64(len(k)), store.PutOptions{})
			errs <- err
		}()
	}
	for range keys {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
