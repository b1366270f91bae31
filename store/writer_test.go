package store_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/bufpool"
	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/s3store"
)

func TestMain(m *testing.M) { os.Exit(miniotest.Main(m)) }

const part = store.MinPartSize

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newS3 returns a metered S3 store on a fresh bucket of the shared MinIO.
func newS3(t testing.TB, mod func(*s3store.Config)) (*store.Metered, *miniotest.Server) {
	t.Helper()
	srv := miniotest.Shared(t)
	cfg := s3store.Config{Endpoint: srv.URL(), Bucket: srv.NewBucket(t), Region: srv.Region,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Lookup: s3store.LookupPath}
	if mod != nil {
		mod(&cfg)
	}
	s, err := s3store.New(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return store.NewMetered(s), srv
}

func randomBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{byte(seed)}).Read(b)
	return b
}

func readObject(t *testing.T, s store.Store, key string) []byte {
	t.Helper()
	r, _, err := s.Get(ctxT(t), key, store.GetOptions{})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeInChunks writes data in odd-sized pieces, as a filesystem would.
func writeInChunks(w io.Writer, data []byte) error {
	for len(data) > 0 {
		n := min(len(data), 100_003)
		if _, err := w.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// One part or less is one PUT; more is a multipart upload with one request
// per part; the content always reads back exactly.
func TestWriterSizes(t *testing.T) {
	m, _ := newS3(t, nil)
	for _, c := range []struct {
		size                 int
		puts, creates, parts int64
	}{
		{0, 1, 0, 0}, {1, 1, 0, 0}, {part, 1, 0, 0}, {part + 1, 0, 1, 2}, {3*part + 5, 0, 1, 4},
	} {
		m.Reset()
		data := randomBytes(uint64(c.size), c.size)
		w := store.NewWriter(ctxT(t), m, "obj", store.PutOptions{Metadata: map[string]string{"Mode": "644"}},
			store.WriterOptions{PartSize: part, Concurrency: 2})
		if err := writeInChunks(w, data); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("size %d: %v", c.size, err)
		}
		snap := m.Snapshot()
		if snap[store.ReqPut] != c.puts || snap[store.ReqMultipartCreate] != c.creates ||
			snap[store.ReqMultipartPart] != c.parts || snap[store.ReqMultipartDone] != c.creates {
			t.Fatalf("size %d: requests %v, want %d put, %d multipart with %d parts", c.size, snap, c.puts, c.creates, c.parts)
		}
		if got := readObject(t, m, "obj"); !bytes.Equal(got, data) {
			t.Fatalf("size %d: read back %d bytes that differ", c.size, len(got))
		}
		st, err := m.Stat(ctxT(t), "obj")
		obj := w.Object()
		if err != nil || st.ETag != obj.ETag || obj.Size != int64(c.size) || st.Metadata["mode"] != "644" {
			t.Fatalf("size %d: Object() %+v, Stat %+v, %v", c.size, obj, st, err)
		}
	}
}

// ReadFrom (used by io.Copy) fills parts straight from the reader, and
// part buffers come from the pool within Concurrency+1 parts.
func TestWriterReadFromWithPool(t *testing.T) {
	m, _ := newS3(t, nil)
	pool := bufpool.New(64 << 20)
	data := randomBytes(5, 7*part+123)
	w := store.NewWriter(ctxT(t), m, "obj", store.PutOptions{}, store.WriterOptions{PartSize: part, Concurrency: 2, Pool: pool})
	n, err := io.Copy(w, bytes.NewReader(data))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("copied %d, %v", n, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if now, peak := pool.InUse(); now != 0 || peak > 3*part {
		t.Fatalf("pool: %d bytes still held, peak %d, want 0 and at most %d", now, peak, 3*part)
	}
	if got := readObject(t, m, "obj"); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
	if parts := m.Snapshot()[store.ReqMultipartPart]; parts != 8 {
		t.Fatalf("%d parts, want 8", parts)
	}
}

// Adopt takes a first-part buffer as it is, without a copy or a second
// buffer, and anything else by copying; either way the object is exact
// and every buffer goes back to the pool.
func TestWriterAdopt(t *testing.T) {
	m, _ := newS3(t, nil)
	for _, tc := range []struct {
		name           string
		bufCap, filled int
		more           int   // bytes written after Adopt
		wantPeak       int64 // most pool bytes held at once
	}{
		{"whole first part", part, part, 0, part},
		{"part-size buffer partly filled, then more", part, part / 2, part, 2 * part},
		{"smaller buffer: copied", part / 4, part / 4, 0, part + part/4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := bufpool.New(64 << 20)
			data := randomBytes(9, tc.filled+tc.more)
			buf, ok := pool.TryGet(tc.bufCap)
			if !ok {
				t.Fatal("pool refused a buffer")
			}
			buf = buf[:tc.filled]
			copy(buf, data)
			w := store.NewWriter(ctxT(t), m, "adopted", store.PutOptions{},
				store.WriterOptions{PartSize: part, Concurrency: 1, Pool: pool})
			if n, err := w.Adopt(buf); err != nil || n != tc.filled {
				t.Fatalf("Adopt: %d, %v", n, err)
			}
			if _, err := w.Write(data[tc.filled:]); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if got := readObject(t, m, "adopted"); !bytes.Equal(got, data) {
				t.Fatal("content differs")
			}
			if now, peak := pool.InUse(); now != 0 || peak > tc.wantPeak {
				t.Fatalf("pool: %d bytes still held, peak %d; want 0 and at most %d", now, peak, tc.wantPeak)
			}
		})
	}
}

// A part sent earlier and replaced before Close holds the new bytes in
// the object; a part not sent yet cannot be replaced.
func TestWriterReplacePart(t *testing.T) {
	m, _ := newS3(t, nil)
	data := randomBytes(11, 2*part+1000)
	w := store.NewWriter(ctxT(t), m, "replaced", store.PutOptions{}, store.WriterOptions{PartSize: part})
	defer w.Abort()
	if err := w.ReplacePart(1, bytes.NewReader(nil), 0); err == nil {
		t.Fatal("replacing a part before it was sent succeeded")
	}
	if err := writeInChunks(w, data); err != nil {
		t.Fatal(err)
	}
	first := bytes.Clone(data[:part])
	copy(first[10:], "a new header")
	if err := w.ReplacePart(1, bytes.NewReader(first), part); err != nil {
		t.Fatalf("ReplacePart(1): %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := append(first, data[part:]...)
	if got := readObject(t, m, "replaced"); !bytes.Equal(got, want) {
		t.Fatal("content differs: the first part was not replaced")
	}
}

// A size hint raises the part size so huge objects fit in 10000 parts.
func TestWriterSizeHint(t *testing.T) {
	m, _ := newS3(t, nil)
	wo := store.WriterOptions{PartSize: part, SizeHint: 60 << 30}
	if got := wo.PartSizeAt(1); got != 13<<20 {
		t.Fatalf("part size for a 60 GiB hint: %d, want 13 MiB", got)
	}
	data := randomBytes(6, 30<<20)
	w := store.NewWriter(ctxT(t), m, "obj", store.PutOptions{}, wo)
	if err := writeInChunks(w, data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if parts := m.Snapshot()[store.ReqMultipartPart]; parts != 3 {
		t.Fatalf("%d parts of a 30 MiB object, want 3 of 13 MiB", parts)
	}
}

func TestPartSizeGrowth(t *testing.T) {
	wo := store.WriterOptions{}
	total := int64(0)
	for n := 1; n <= store.MaxParts; n++ {
		total += int64(wo.PartSizeAt(n))
	}
	if wo.PartSizeAt(1) != store.DefaultPartSize || wo.PartSizeAt(1001) != 2*store.DefaultPartSize {
		t.Fatalf("part sizes %d, %d", wo.PartSizeAt(1), wo.PartSizeAt(1001))
	}
	if total < 5<<40 {
		t.Fatalf("10000 parts hold only %d GiB, less than S3's 5 TiB object", total>>30)
	}
	if got := (store.WriterOptions{PartSize: 1}).PartSizeAt(1); got != store.MinPartSize {
		t.Fatalf("a tiny PartSize gives %d-byte parts, want the 5 MiB minimum", got)
	}
}

// Abort discards a multipart upload in progress: nothing is stored and the
// upload is aborted on the server.
func TestWriterAbort(t *testing.T) {
	m, _ := newS3(t, nil)
	w := store.NewWriter(ctxT(t), m, "obj", store.PutOptions{}, store.WriterOptions{PartSize: part})
	if err := writeInChunks(w, randomBytes(1, 3*part)); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("write after Abort succeeded")
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close after Abort succeeded")
	}
	if _, err := m.Stat(ctxT(t), "obj"); !store.IsNotFound(err) {
		t.Fatalf("aborted writer left an object: %v", err)
	}
	if n := m.Snapshot()[store.ReqMultipartAbort]; n != 1 {
		t.Fatalf("%d multipart aborts, want 1", n)
	}
	if n, err := m.AbortStaleUploads(ctxT(t), "", 0); err != nil || n != 0 {
		t.Fatalf("%d uploads left open (%v)", n, err)
	}
}

// A create-only writer that loses fails at Close with a precondition
// error, on both paths, and leaves the winner's object alone.
func TestWriterConditionLost(t *testing.T) {
	m, _ := newS3(t, nil)
	if _, err := m.Put(ctxT(t), "obj", bytes.NewReader([]byte("first")), 5, store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, size := range []int{10, 2*part + 1} {
		w := store.NewWriter(ctxT(t), m, "obj", store.PutOptions{IfNoneMatch: true}, store.WriterOptions{PartSize: part})
		err := writeInChunks(w, randomBytes(2, size))
		if err == nil {
			err = w.Close()
		} else {
			w.Abort()
		}
		if !store.IsPreconditionFailed(err) {
			t.Fatalf("size %d: got %v, want ErrPreconditionFailed", size, err)
		}
		if got := readObject(t, m, "obj"); string(got) != "first" {
			t.Fatalf("size %d: object became %d bytes", size, len(got))
		}
	}
	if n, err := m.AbortStaleUploads(ctxT(t), "", 0); err != nil || n != 0 {
		t.Fatalf("%d uploads left open (%v)", n, err)
	}
}

// When the store goes away in the middle of a write, the writer reports it
// (as ErrUnavailable) instead of hanging, and nothing is committed.
func TestWriterStoreStoppedMidWrite(t *testing.T) {
	m, srv := newS3(t, func(c *s3store.Config) { c.Retries = 1; c.RequestTimeout = 10 * time.Second })
	srv.NeedLocal(t)
	w := store.NewWriter(ctxT(t), m, "obj", store.PutOptions{}, store.WriterOptions{PartSize: part, Concurrency: 2})
	if err := writeInChunks(w, randomBytes(3, 2*part+1)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	err := writeInChunks(w, randomBytes(4, 4*part))
	if err == nil {
		err = w.Close()
	} else {
		w.Abort()
	}
	srv.StartT(t)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("write with the store stopped: got %v, want ErrUnavailable", err)
	}
	if _, err := m.Stat(ctxT(t), "obj"); !store.IsNotFound(err) {
		t.Fatalf("a failed write left an object: %v", err)
	}
	// The abort could not reach the store; the stale upload is cleaned up.
	if _, err := m.AbortStaleUploads(ctxT(t), "", 0); err != nil {
		t.Fatal(err)
	}
}
