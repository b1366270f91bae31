package content

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
)

// TestStagedFetchesWhatReadsNeed: a staging file fetches nothing up front;
// a read fetches the FetchAlign blocks around it that are not held yet,
// once; bytes written here are never fetched.
func TestStagedFetchesWhatReadsNeed(t *testing.T) {
	r := newRig(t, 64<<20)
	ctx := context.Background()
	model := pattern(1, 4*FetchAlign+100)
	obj := r.put(t, "f", model)
	r.counts()
	s := NewStaged(r.env, Base{Key: "f", ETag: obj.ETag, Limit: obj.Size})
	defer s.Close()
	if s.Length() != obj.Size {
		t.Fatalf("length %d; want the base's %d", s.Length(), obj.Size)
	}

	buf := make([]byte, 100)
	read := func(off int64) {
		t.Helper()
		n, err := s.ReadAt(ctx, buf, off)
		if err != nil || !bytes.Equal(buf[:n], model[off:off+int64(n)]) {
			t.Fatalf("reading at %d: %d bytes, %v", off, n, err)
		}
	}
	read(FetchAlign + 10)
	wantCounts(t, "a small read", r.counts(), map[string]int64{store.ReqGet: 1, store.BytesRead: FetchAlign})
	read(FetchAlign + 5000)
	wantCounts(t, "a read of the same block", r.counts(), nil)
	read(2*FetchAlign - 50) // across into the next block
	wantCounts(t, "a read across a block boundary", r.counts(), map[string]int64{store.ReqGet: 1, store.BytesRead: FetchAlign})

	// A write covering most of block 3: its read fetches the rest only.
	if err := s.WriteAt(ctx, bytes.Repeat([]byte("w"), FetchAlign-100), 3*FetchAlign+100); err != nil {
		t.Fatal(err)
	}
	copy(model[3*FetchAlign+100:], bytes.Repeat([]byte("w"), FetchAlign-100))
	read(3*FetchAlign + 50)
	wantCounts(t, "a read of a block mostly written", r.counts(), map[string]int64{store.ReqGet: 1, store.BytesRead: 100})

	// Everything: blocks 0 and 4 are left to fetch.
	if got := readAll(t, s); !bytes.Equal(got, model) {
		t.Fatalf("read back: first difference at %d", firstDiff(got, model))
	}
	wantCounts(t, "reading everything", r.counts(), map[string]int64{store.ReqGet: 2, store.BytesRead: FetchAlign + 100})
}

// TestStagedTruncate: bytes cut off by a truncate are forgotten: growing
// the file again reads zeros, not the base's old bytes, and the commit
// stores those zeros.
func TestStagedTruncate(t *testing.T) {
	r := newRig(t, 64<<20)
	ctx := context.Background()
	old := pattern(2, 3*FetchAlign)
	obj := r.put(t, "f", old)
	s := NewStaged(r.env, Base{Key: "f", ETag: obj.ETag, Limit: obj.Size})
	defer s.Close()
	if err := s.Truncate(FetchAlign / 2); err != nil {
		t.Fatal(err)
	}
	if err := s.Truncate(2 * FetchAlign); err != nil {
		t.Fatal(err)
	}
	model := make([]byte, 2*FetchAlign)
	copy(model, old[:FetchAlign/2])
	if got := readAll(t, s); !bytes.Equal(got, model) {
		t.Fatalf("after shrinking and growing: first difference at %d", firstDiff(got, model))
	}
	if _, err := s.Commit(ctx, "f", store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	r.wantStored(t, "f", model)
}

// TestStagedCommitWhole: content of at most a part is stored whole, after
// fetching what is still missing; the stored object becomes the base, so
// that nothing is fetched again and the next commit starts from it.
func TestStagedCommitWhole(t *testing.T) {
	r := newRig(t, 64<<20)
	ctx := context.Background()
	model := pattern(3, part-1000)
	obj := r.put(t, "f", model)
	s := NewStaged(r.env, Base{Key: "f", ETag: obj.ETag, Limit: obj.Size})
	defer s.Close()
	if err := s.WriteAt(ctx, []byte("changed"), 1<<20); err != nil {
		t.Fatal(err)
	}
	copy(model[1<<20:], "changed")
	r.counts()
	if _, err := s.Commit(ctx, "f", store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	r.wantStored(t, "f", model)
	got := r.counts()
	if got[store.ReqPut] != 1 || got[store.BytesRead] != int64(len(model)-7) || got[store.ReqMultipartCreate] != 0 {
		t.Errorf("requests %v; want the %d missing bytes fetched, then one PUT", nonZero(got), len(model)-7)
	}
	if got := readAll(t, s); !bytes.Equal(got, model) {
		t.Fatalf("read back: first difference at %d", firstDiff(got, model))
	}
	wantCounts(t, "reading back after the commit", r.counts(), nil)

	// Changed elsewhere after the commit: the next commit, whole, has
	// every byte and wins.
	r.put(t, "f", pattern(4, 10))
	if err := s.WriteAt(ctx, []byte("again"), 0); err != nil {
		t.Fatal(err)
	}
	copy(model, "again")
	if _, err := s.Commit(ctx, "f", store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	r.wantStored(t, "f", model)
	wantCounts(t, "a second commit", r.counts(), map[string]int64{store.ReqPut: 1, store.BytesWritten: int64(len(model))})
}

// TestStagedBaseCopied: after the base object is copied elsewhere (a
// rename), the missing bytes come from the copy, pinned to its version.
func TestStagedBaseCopied(t *testing.T) {
	r := newRig(t, 64<<20)
	ctx := context.Background()
	model := pattern(5, 2*FetchAlign)
	obj := r.put(t, "old", model)
	s := NewStaged(r.env, Base{Key: "old", ETag: obj.ETag, Limit: obj.Size})
	defer s.Close()
	moved, err := r.local.Copy(ctx, "old", "new", store.CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.local.Delete(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	s.BaseCopied("new", moved.ETag)
	if got := readAll(t, s); !bytes.Equal(got, model) {
		t.Fatalf("read back after the move: first difference at %d", firstDiff(got, model))
	}
}

// TestStagedFailures: a failed fetch fails the read or the commit that
// needed it and marks nothing as held, so a retry fetches it; a failed
// upload leaves the stored object as it was and the changes to the next
// commit; a base replaced elsewhere fails the fetches of its bytes.
func TestStagedFailures(t *testing.T) {
	ctx := context.Background()
	setup := func(t *testing.T) (*rig, *Staged, []byte) {
		r := newRig(t, 64<<20)
		model := pattern(6, 2*FetchAlign)
		obj := r.put(t, "f", model)
		s := NewStaged(r.env, Base{Key: "f", ETag: obj.ETag, Limit: obj.Size})
		t.Cleanup(s.Close)
		return r, s, model
	}
	for _, op := range []faultstore.Op{faultstore.OpGet, faultstore.OpRead} {
		t.Run("a fetch ("+string(op)+")", func(t *testing.T) {
			r, s, model := setup(t)
			r.faults.Add(faultstore.Rule{Op: op, Times: 1, AfterBytes: 1000})
			buf := make([]byte, 10)
			if _, err := s.ReadAt(ctx, buf, 5); !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("read with a failing fetch: %v; want the injected failure", err)
			}
			if n, err := s.ReadAt(ctx, buf, 5); err != nil || !bytes.Equal(buf[:n], model[5:15]) {
				t.Fatalf("reading again: %d bytes, %v", n, err)
			}
		})
	}
	t.Run("a fetch at commit", func(t *testing.T) {
		r, s, model := setup(t)
		if err := s.WriteAt(ctx, []byte("x"), 0); err != nil {
			t.Fatal(err)
		}
		model[0] = 'x'
		r.faults.Add(faultstore.Rule{Op: faultstore.OpGet, Times: 1})
		if _, err := s.Commit(ctx, "f", store.PutOptions{}); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("commit with a failing fetch: %v; want the injected failure", err)
		}
		if got := r.counts(); got[store.ReqPut] != 0 {
			t.Errorf("requests %v; want nothing stored without every byte", nonZero(got))
		}
		if _, err := s.Commit(ctx, "f", store.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		r.wantStored(t, "f", model)
	})
	t.Run("the upload", func(t *testing.T) {
		r, s, model := setup(t)
		old := bytes.Clone(model)
		if err := s.WriteAt(ctx, []byte("x"), 0); err != nil {
			t.Fatal(err)
		}
		model[0] = 'x'
		r.faults.Add(faultstore.Rule{Op: faultstore.OpPut, Times: 1})
		if _, err := s.Commit(ctx, "f", store.PutOptions{}); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("commit with a failing PUT: %v; want the injected failure", err)
		}
		r.wantStored(t, "f", old)
		if _, err := s.Commit(ctx, "f", store.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		r.wantStored(t, "f", model)
	})
	t.Run("the base replaced", func(t *testing.T) {
		r, s, _ := setup(t)
		r.put(t, "f", pattern(7, 2*FetchAlign))
		if _, err := s.ReadAt(ctx, make([]byte, 10), 0); !store.IsPreconditionFailed(err) {
			t.Fatalf("reading bytes of a replaced base: %v; want a precondition failure", err)
		}
	})
}
