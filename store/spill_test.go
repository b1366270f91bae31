package store_test

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"

	"github.com/s3vol/s3vol/internal/bufpool"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/localstore"
)

func newLocal(t *testing.T) *store.Metered {
	t.Helper()
	ls, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ls.Close() })
	return store.NewMetered(ls)
}

// spillFiles hands out spill files in dir and remembers them.
type spillFiles struct {
	dir   string
	mu    sync.Mutex
	files []*os.File
}

func (s *spillFiles) take() (*os.File, error) {
	f, err := os.CreateTemp(s.dir, "part-*")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files = append(s.files, f)
	return f, nil
}

// open counts the spill files not closed yet.
func (s *spillFiles) open() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, f := range s.files {
		if f.Fd() != ^uintptr(0) {
			n++
		}
	}
	return n
}

// With the whole memory budget held elsewhere (open, idle files), a writer
// with Spill does not wait for it: its parts go to local disk, the object
// is stored whole, every spill file is closed, and the budget is untouched
// (issue 13.5). Without Spill the same writer would wait for as long as its
// context allows.
func TestWriterSpillsWhenBudgetHeldElsewhere(t *testing.T) {
	for _, how := range []string{"Write", "ReadFrom"} {
		t.Run(how, func(t *testing.T) {
			st := newLocal(t)
			pool := bufpool.New(2 * part)
			held := make([][]byte, 2)
			for i := range held {
				held[i], _ = pool.TryGet(part)
			}
			spill := &spillFiles{dir: t.TempDir()}
			data := randomBytes(5, 3*part+777)
			w := store.NewWriter(ctxT(t), st, "k", store.PutOptions{}, store.WriterOptions{
				PartSize: part, Pool: pool, Spill: spill.take})
			var err error
			if how == "Write" {
				err = writeInChunks(w, data)
			} else {
				_, err = w.ReadFrom(bytes.NewReader(data))
			}
			if err != nil {
				t.Fatalf("%s: %v", how, err)
			}
			if err := w.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			if got := readObject(t, st, "k"); !bytes.Equal(got, data) {
				t.Fatalf("stored %d bytes, want the %d written", len(got), len(data))
			}
			if n := len(spill.files); n != 4 {
				t.Errorf("%d parts spilled, want all 4", n)
			}
			if n := spill.open(); n != 0 {
				t.Errorf("%d spill files left open", n)
			}
			if used, _ := pool.InUse(); used != 2*part {
				t.Errorf("the budget has %d bytes in use, want only the %d held", used, 2*part)
			}
			for _, b := range held {
				pool.Put(b)
			}
		})
	}
}

// A writer with room in the budget keeps its parts in memory and spills
// nothing, even with parts in flight taking most of it.
func TestWriterUsesMemoryWhenItCan(t *testing.T) {
	st := newLocal(t)
	pool := bufpool.New(2 * part)
	spill := &spillFiles{dir: t.TempDir()}
	data := randomBytes(6, 5*part+1)
	w := store.NewWriter(ctxT(t), st, "k", store.PutOptions{}, store.WriterOptions{
		PartSize: part, Concurrency: 1, Pool: pool, Spill: spill.take})
	if err := writeInChunks(w, data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readObject(t, st, "k"); !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes, want the %d written", len(got), len(data))
	}
	// One part uploading and one filling fit the budget: the writer waits
	// for its own part rather than spilling.
	if n := len(spill.files); n != 0 {
		t.Errorf("%d parts spilled although the budget had room for the writer's own parts", n)
	}
}

// A full local disk fails the write with ErrNoSpace (ENOSPC to a
// filesystem's caller), and aborting leaves no upload behind.
func TestWriterSpillDiskFull(t *testing.T) {
	st := newLocal(t)
	pool := bufpool.New(2 * part)
	held := make([][]byte, 2)
	for i := range held {
		held[i], _ = pool.TryGet(part)
	}
	defer func() {
		for _, b := range held {
			pool.Put(b)
		}
	}()
	full := func() (*os.File, error) {
		return nil, &os.PathError{Op: "open", Path: "/cache/part", Err: syscall.ENOSPC}
	}
	w := store.NewWriter(ctxT(t), st, "k", store.PutOptions{}, store.WriterOptions{
		PartSize: part, Pool: pool, Spill: full})
	err := writeInChunks(w, randomBytes(7, 2*part))
	if !errors.Is(err, store.ErrNoSpace) {
		t.Fatalf("writing with the spill disk full: %v, want ErrNoSpace", err)
	}
	w.Abort()
	if n, err := st.AbortStaleUploads(ctxT(t), "", 0); err != nil || n != 0 {
		t.Fatalf("%d uploads left behind (err %v)", n, err)
	}
}
