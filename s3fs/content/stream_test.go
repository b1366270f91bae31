package content

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
)

// streamTo starts a streamer whose upload goes to key with meta, and
// counts how often it asked.
func streamTo(t *testing.T, r *rig, key string, meta map[string]string) (*Streamer, *int) {
	t.Helper()
	asked := 0
	s := NewStreamer(r.env, func() (string, store.PutOptions) {
		asked++
		return key, store.PutOptions{Metadata: meta}
	})
	t.Cleanup(s.Close)
	return s, &asked
}

// writeSeq writes data from off on in writes of 1 MiB, as the kernel does.
func writeSeq(ctx context.Context, c Local, data []byte, off int64) error {
	for pos := 0; pos < len(data); pos += 1 << 20 {
		if err := c.WriteAt(ctx, data[pos:min(pos+1<<20, len(data))], off+int64(pos)); err != nil {
			return err
		}
	}
	return nil
}

// TestStreamSmallFile: a file smaller than a part stays in memory, reads
// back, and is stored with one PUT carrying the commit's metadata; no
// upload is started.
func TestStreamSmallFile(t *testing.T) {
	r := newRig(t, 64<<20)
	ctx := context.Background()
	s, asked := streamTo(t, r, "f", nil)
	data := pattern(1, 3<<20+5)
	if err := writeSeq(ctx, s, data, 0); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s); !bytes.Equal(got, data) {
		t.Fatalf("read back: first difference at %d", firstDiff(got, data))
	}
	r.wantAbsent(t, "f")
	if used, _ := r.pool.InUse(); used < int64(len(data)) || used > part {
		t.Errorf("the streamer holds %d bytes of the budget for %d bytes of data; want its buffer, at most a part", used, len(data))
	}
	if _, err := s.Commit(ctx, "f", store.PutOptions{Metadata: map[string]string{"mode": "33188"}}); err != nil {
		t.Fatal(err)
	}
	r.wantStored(t, "f", data)
	wantCounts(t, "a small file", r.counts(), map[string]int64{store.ReqPut: 1, store.BytesWritten: int64(len(data))})
	if _, obj, _ := r.stored(t, "f"); obj.Metadata["mode"] != "33188" {
		t.Errorf("metadata %v; want the commit's", obj.Metadata)
	}
	if *asked != 0 {
		t.Errorf("the streamer asked for an upload's key %d times; a small file needs none", *asked)
	}
	s.Close()
	if used, _ := r.pool.InUse(); used != 0 {
		t.Errorf("%d bytes of the budget still held after Close", used)
	}
}

// TestStreamRewrittenHead: a writer that goes back to fill in a header at
// the start of a file it is streaming past one part (WAV, MP4, HDF5 do)
// reads and overwrites the first part locally; nothing shows in the store
// before the commit, which sends the first part once more in the same
// upload. Random access past the first part needs a staging file.
func TestStreamRewrittenHead(t *testing.T) {
	r := newRig(t, 64<<20)
	ctx := context.Background()
	meta := map[string]string{"mode": "33184"}
	s, asked := streamTo(t, r, "rec.wav", meta)
	model := pattern(5, 2*part+1000)
	if err := writeSeq(ctx, s, model, 0); err != nil {
		t.Fatal(err)
	}
	if !s.Uploading() || *asked != 1 {
		t.Fatalf("past one part: uploading %v, key asked %d times; want the upload started, once", s.Uploading(), *asked)
	}
	header := []byte("RIFF\x24\x00\x50\x00WAVE")
	if err := s.WriteAt(ctx, header, 0); err != nil {
		t.Fatalf("rewriting the header: %v", err)
	}
	copy(model, header)
	got := make([]byte, 64<<10)
	if n, err := s.ReadAt(ctx, got, 0); err != nil || !bytes.Equal(got[:n], model[:len(got)]) {
		t.Fatalf("reading the rewritten header back: %d bytes, %v", n, err)
	}
	r.wantAbsent(t, "rec.wav")

	// Past the head: a read, an overwrite, a truncate need staging.
	for name, err := range map[string]error{
		"a read past the head":   func() error { _, err := s.ReadAt(ctx, make([]byte, 10), part-5); return err }(),
		"a write past the head":  s.WriteAt(ctx, []byte("x"), part+10),
		"a truncate":             s.Truncate(part),
		"a write across the end": s.WriteAt(ctx, []byte("xx"), s.Length()-1),
	} {
		if !errors.Is(err, ErrNeedStaging) {
			t.Errorf("%s: %v; want ErrNeedStaging", name, err)
		}
	}

	more := pattern(6, 1<<20)
	if err := writeSeq(ctx, s, more, s.Length()); err != nil {
		t.Fatal(err)
	}
	model = append(model, more...)
	if _, err := s.Commit(ctx, "rec.wav", store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	r.wantStored(t, "rec.wav", model)
	// Three parts sent while writing and the first once more at the
	// commit, in one upload; nothing read back or copied.
	wantCounts(t, "a rewritten head", r.counts(), map[string]int64{
		store.ReqMultipartCreate: 1, store.ReqMultipartPart: 4, store.ReqMultipartDone: 1,
		store.BytesWritten: int64(len(model) + part),
	})
	if _, obj, _ := r.stored(t, "rec.wav"); obj.Metadata["mode"] != "33184" {
		t.Errorf("metadata %v; want what the upload started with", obj.Metadata)
	}
	if got := s.Sent(); got.Metadata["mode"] != "33184" {
		t.Errorf("Sent() is %v; want what the upload started with", got)
	}
}

// TestStreamMovedWhileUploading: a file renamed while it streams is
// completed under the key its upload started with, then moved.
func TestStreamMovedWhileUploading(t *testing.T) {
	r := newRig(t, 64<<20)
	ctx := context.Background()
	s, _ := streamTo(t, r, "old", nil)
	data := pattern(2, part+10)
	if err := writeSeq(ctx, s, data, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, "new", store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	r.wantStored(t, "new", data)
	r.wantAbsent(t, "old")
	wantCounts(t, "moved while uploading", r.counts(), map[string]int64{
		store.ReqMultipartCreate: 1, store.ReqMultipartPart: 2, store.ReqMultipartDone: 1,
		store.ReqCopy: 1, store.ReqDelete: 1, store.BytesWritten: int64(len(data)),
	})
}

// TestStreamToStaged: content still in memory moves to a staging file for
// random access, and is stored whole from there.
func TestStreamToStaged(t *testing.T) {
	r := newRig(t, 64<<20)
	ctx := context.Background()
	s, _ := streamTo(t, r, "f", nil)
	data := pattern(3, 100_000)
	if err := s.WriteAt(ctx, data, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteAt(ctx, []byte("hole"), 200_000); !errors.Is(err, ErrNeedStaging) {
		t.Fatalf("a write past the end: %v; want ErrNeedStaging", err)
	}
	st, err := s.ToStaged()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if used, _ := r.pool.InUse(); used != 0 {
		t.Errorf("%d bytes of the budget still held once the content is staged", used)
	}
	if err := st.WriteAt(ctx, []byte("hole"), 200_000); err != nil {
		t.Fatal(err)
	}
	model := make([]byte, 200_004)
	copy(model, data)
	copy(model[200_000:], "hole")
	if got := readAll(t, st); !bytes.Equal(got, model) {
		t.Fatalf("staged content: first difference at %d", firstDiff(got, model))
	}
	if _, err := st.Commit(ctx, "f", store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	r.wantStored(t, "f", model)
	wantCounts(t, "staged from a streamer", r.counts(), map[string]int64{store.ReqPut: 1, store.BytesWritten: int64(len(model))})
}

// TestStreamSpillsWhenBudgetSpent: a streamer that cannot grow its buffer
// without waiting (the budget is held elsewhere) asks for a staging file
// rather than wait; one past its first part uploads what does not fit
// through a part file in the cache folder.
func TestStreamSpillsWhenBudgetSpent(t *testing.T) {
	r := newRig(t, 2*part)
	ctx := context.Background()
	held, err := r.pool.Get(ctx, int(2*part))
	if err != nil {
		t.Fatal(err)
	}
	s, _ := streamTo(t, r, "f", nil)
	if err := s.WriteAt(ctx, []byte("x"), 0); !errors.Is(err, ErrNeedStaging) {
		t.Fatalf("writing with the budget spent: %v; want ErrNeedStaging", err)
	}
	r.pool.Put(held)

	// A streamer past its first part, the budget then taken: its next
	// parts go through files.
	data := pattern(4, 3*part+7)
	if err := writeSeq(ctx, s, data[:part+1], 0); err != nil {
		t.Fatal(err)
	}
	used, _ := r.pool.InUse()
	held, ok := r.pool.TryGet(int(2*part - used))
	if !ok {
		t.Fatalf("could not take the rest of the budget (%d bytes in use)", used)
	}
	if err := writeSeq(ctx, s, data[part+1:], part+1); err != nil {
		t.Fatalf("writing with the budget spent: %v", err)
	}
	if _, err := s.Commit(ctx, "f", store.PutOptions{}); err != nil {
		t.Fatalf("committing with the budget spent: %v", err)
	}
	r.pool.Put(held)
	r.wantStored(t, "f", data)
}

// TestStreamFailures: a failed part upload loses the streamed content:
// the failure is the error of the write or commit that finds it, every
// later write, read and commit fails, the upload is aborted and nothing
// is stored. A small file's failed PUT loses nothing: the commit can be
// retried.
func TestStreamFailures(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		rule    faultstore.Rule
		aborted int64 // uploads started, to be aborted
	}{
		{"the upload cannot start", faultstore.Rule{Op: faultstore.OpNewMultipart}, 0},
		{"a part sent while writing", faultstore.Rule{Op: faultstore.OpUploadPart, Nth: 2}, 1},
		// Parts 1-3 go while writing, part 4 (10 bytes) at the commit,
		// then the rewritten head.
		{"the head sent again", faultstore.Rule{Op: faultstore.OpUploadPart, Nth: 5}, 1},
		{"the completion", faultstore.Rule{Op: faultstore.OpComplete}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, 64<<20)
			r.faults.Add(c.rule)
			s, _ := streamTo(t, r, "f", nil)
			data := pattern(5, 3*part+10)
			werr := writeSeq(ctx, s, data, 0)
			if werr == nil {
				werr = s.WriteAt(ctx, []byte("HEAD"), 0)
			}
			_, cerr := s.Commit(ctx, "f", store.PutOptions{})
			if !errors.Is(werr, store.ErrUnavailable) && !errors.Is(cerr, store.ErrUnavailable) {
				t.Fatalf("writes: %v, commit: %v; want the injected failure from one of them", werr, cerr)
			}
			if cerr == nil || !s.Failed() {
				t.Fatalf("commit: %v, failed %v; want the stream failed", cerr, s.Failed())
			}
			if err := s.WriteAt(ctx, []byte("more"), s.Length()); err == nil {
				t.Errorf("a write after the failure succeeded")
			}
			if _, err := s.ReadAt(ctx, make([]byte, 10), 0); err == nil {
				t.Errorf("a read after the failure succeeded")
			}
			if _, err := s.Commit(ctx, "f", store.PutOptions{}); err == nil {
				t.Errorf("a second commit after the failure succeeded")
			}
			r.wantAbsent(t, "f")
			got := r.counts()
			if got[store.ReqMultipartAbort] != c.aborted {
				t.Errorf("requests %v; want %d upload aborted", nonZero(got), c.aborted)
			}
			s.Close()
		})
	}

	t.Run("a small file's PUT", func(t *testing.T) {
		r := newRig(t, 64<<20)
		r.faults.Add(faultstore.Rule{Op: faultstore.OpPut, Times: 1})
		s, _ := streamTo(t, r, "f", nil)
		data := pattern(6, 1000)
		if err := s.WriteAt(ctx, data, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Commit(ctx, "f", store.PutOptions{}); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("commit: %v; want the injected failure", err)
		}
		r.wantAbsent(t, "f")
		if s.Failed() {
			t.Fatalf("a failed PUT lost the content, which is still in memory")
		}
		if _, err := s.Commit(ctx, "f", store.PutOptions{}); err != nil {
			t.Fatalf("committing again: %v", err)
		}
		r.wantStored(t, "f", data)
	})
}
