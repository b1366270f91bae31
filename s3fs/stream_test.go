package s3fs

import (
	"bytes"
	"os"
	"testing"

	"github.com/s3vol/s3vol/store"
)

// TestStreaming: files written from their start stream to the store, are
// invisible until closed, and stay exact when the writer turns to random
// access, renames or chmods them half way.
func TestStreaming(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		mt := mount(t, st, Options{Prefix: "v/", PartSize: store.MinPartSize})
		const size = 13<<20 + 4321 // past two parts

		// Sequential: invisible until close, exact after.
		f, err := os.Create(mt.path("seq"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		data := pattern(1, size)
		for off := 0; off < size; off += 1 << 20 {
			if _, err := f.Write(data[off:min(off+1<<20, size)]); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := getObject(t, st, "v/seq"); !store.IsNotFound(err) {
			t.Fatalf("a streaming file is visible before close: %v", err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if got, _, err := getObject(t, st, "v/seq"); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("stored seq: %d bytes, %v", len(got), err)
		}

		// Random access after streaming started: overwrite, read back,
		// append, truncate, all through one handle.
		model := bytes.Clone(data)
		f, err = os.OpenFile(mt.path("mixed"), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("patched"), 100); err != nil {
			t.Fatal(err)
		}
		copy(model[100:], "patched")
		buf := make([]byte, 4096)
		if _, err := f.ReadAt(buf, 50); err != nil || !bytes.Equal(buf, model[50:50+4096]) {
			t.Fatalf("read back: %v", err)
		}
		tail := pattern(2, 3<<20)
		if _, err := f.Write(tail); err != nil {
			t.Fatal(err)
		}
		model = append(model, tail...)
		if err := f.Chmod(0o600); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if got := mt.read("mixed"); !bytes.Equal(got, model) {
			t.Fatalf("mixed: %d bytes, want %d, first difference at %d", len(got), len(model), firstDiff(got, model))
		}

		// Renamed and chmodded while streaming.
		f, err = os.Create(mt.path("moving"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(mt.path("moving"), mt.path("moved")); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(tail); err != nil {
			t.Fatal(err)
		}
		if err := f.Chmod(0o640); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		got, obj, err := getObject(t, st, "v/moved")
		if err != nil || !bytes.Equal(got, append(bytes.Clone(data), tail...)) {
			t.Fatalf("moved: %d bytes, %v", len(got), err)
		}
		if obj.Metadata["mode"] != "33184" { // 0100640
			t.Fatalf("moved: metadata %v, want mode 33184", obj.Metadata)
		}
		if ks := keys(t, st, "v/"); len(ks) != 3 {
			t.Fatalf("keys %v, want mixed, moved, seq", ks)
		}
		mt.remount()
		checkStat(t, mt.path("mixed"), 0o600, 0, 0, nil)
		if got := mt.read("mixed"); !bytes.Equal(got, model) {
			t.Fatal("mixed after remount differs")
		}
	})
}

// TestHeaderRewrittenWhileStreaming: a writer that goes back to fill in a
// header at the start of a file it is streaming (WAV, MP4, HDF5 do) reads
// and overwrites the first part locally; nothing shows in the store before
// close, and the first part is sent again with the new header.
func TestHeaderRewrittenWhileStreaming(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		const part = store.MinPartSize
		m := store.NewMetered(st)
		mt := mount(t, m, Options{Prefix: "v/", PartSize: part})
		model := pattern(5, 2*part+1000)
		m.Reset()
		f, err := os.Create(mt.path("rec.wav"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(model); err != nil {
			t.Fatal(err)
		}
		header := []byte("RIFF\x24\x00\x50\x00WAVE")
		if _, err := f.WriteAt(header, 0); err != nil {
			t.Fatal(err)
		}
		copy(model, header)
		got := make([]byte, 64<<10)
		if _, err := f.ReadAt(got, 0); err != nil || !bytes.Equal(got, model[:len(got)]) {
			t.Fatalf("reading the rewritten header back: %v", err)
		}
		if _, _, err := getObject(t, st, "v/rec.wav"); !store.IsNotFound(err) {
			t.Fatalf("rewriting the header made the file visible before close: %v", err)
		}
		more := pattern(6, 1<<20)
		if _, err := f.Write(more); err != nil {
			t.Fatal(err)
		}
		model = append(model, more...)
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		wantStored(t, st, "v/rec.wav", model)
		reqs := m.Snapshot()
		// Three parts sent while writing and the first once more at close,
		// in one upload; nothing read back or copied.
		if reqs[store.ReqMultipartPart] != 4 || reqs[store.BytesWritten] != int64(len(model)+part) ||
			reqs[store.ReqMultipartCreate] != 1 || reqs[store.ReqMultipartDone] != 1 ||
			reqs[store.ReqGet] != 0 || reqs[store.ReqMultipartCopy] != 0 || reqs[store.ReqCopy] != 0 {
			t.Errorf("requests: %v; want one upload of 4 parts (%d bytes), no GET or copy", reqs, len(model)+part)
		}
	})
}
