package s3fs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/s3vol/s3vol/s3fs/content"
	"github.com/s3vol/s3vol/store"
)

// TestModifiedBigFileStoredAsPatch: appending to a big file, or changing
// a few bytes in its middle, sends only the changed blocks; the unchanged
// ones are copied inside the store, never downloaded or uploaded.
func TestModifiedBigFileStoredAsPatch(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		const block = store.MinPartSize
		model := pattern(7, 3*block+block/5) // three whole blocks and a bit
		putObject(t, st, "v/big", model, nil)
		m := store.NewMetered(st)
		mt := mount(t, m, Options{Prefix: "v/", PartSize: block})

		m.Reset()
		tail := pattern(8, 100_000)
		f, err := os.OpenFile(mt.path("big"), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(tail); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatalf("close after appending: %v", err)
		}
		model = append(model, tail...)
		wantStored(t, st, "v/big", model)
		got := m.Snapshot()
		// Blocks 1-3 copied in one part; the last block fetched (its old
		// bytes, in 256 KiB steps) and sent.
		if got[store.ReqMultipartCopy] != 1 || got[store.ReqMultipartPart] != 1 ||
			got[store.BytesWritten] != int64(len(model)-3*block) || got[store.BytesRead] > block/5+content.FetchAlign {
			t.Errorf("append: %v; want 1 part copied, 1 sent of %d bytes, at most %d bytes read",
				got, len(model)-3*block, block/5+content.FetchAlign)
		}

		m.Reset()
		f, err = os.OpenFile(mt.path("big"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("patched"), block+block/2); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatalf("close after writing in the middle: %v", err)
		}
		copy(model[block+block/2:], "patched")
		wantStored(t, st, "v/big", model)
		got = m.Snapshot()
		if got[store.ReqMultipartCopy] != 2 || got[store.ReqMultipartPart] != 1 ||
			got[store.BytesWritten] != block || got[store.BytesRead] > block {
			t.Errorf("write in the middle: %v; want 2 parts copied around 1 sent of %d bytes", got, block)
		}

		mt.remount()
		if got := mt.read("big"); !bytes.Equal(got, model) {
			t.Fatalf("after remount the file differs from the model (%d vs %d bytes)", len(got), len(model))
		}
	})
}

// TestPatchOfChangedFileFails: when the stored object is replaced while
// this mount modifies it, the patch cannot copy from it; close fails and
// the other writer's object stays whole.
func TestPatchOfChangedFileFails(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		const block = store.MinPartSize
		putObject(t, st, "v/big", pattern(1, 2*block+10), nil)
		mt := mount(t, st, Options{Prefix: "v/", PartSize: block})
		f, err := os.OpenFile(mt.path("big"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt([]byte("mine"), 2*block); err != nil {
			t.Fatal(err)
		}
		theirs := pattern(2, 2*block+10)
		putObject(t, st, "v/big", theirs, nil)
		if err := f.Close(); err == nil {
			t.Fatalf("close succeeded although the file's unfetched bytes changed in the store")
		}
		wantStored(t, st, "v/big", theirs)
		// The unmount tries once more and reports the changes it loses.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err = mt.m.Unmount(ctx)
		mt.m.Wait()
		mt.m = nil
		if err == nil {
			t.Errorf("unmount did not report the changes it could not store")
		}
		wantStored(t, st, "v/big", theirs)
	})
}

// wantStored checks the object at key holds want.
func wantStored(t *testing.T, st store.Store, key string, want []byte) {
	t.Helper()
	data, _, err := getObject(t, st, key)
	if err != nil {
		t.Fatalf("reading %s back: %v", key, err)
	}
	if !bytes.Equal(data, want) {
		t.Fatalf("%s holds %d bytes that differ from the %d expected", key, len(data), len(want))
	}
}

// TestPatchWithoutPartCopy: on a store that does not implement
// UploadPartCopy, a modified file is stored whole, and the mount stops
// trying after the first refusal.
func TestPatchWithoutPartCopy(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		const block = store.MinPartSize
		model := pattern(3, 2*block+10)
		putObject(t, st, "v/big", model, nil)
		m := store.NewMetered(noPartCopy{st})
		mt := mount(t, m, Options{Prefix: "v/", PartSize: block})
		for i := range 2 {
			m.Reset()
			f, err := os.OpenFile(mt.path("big"), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("more")); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatalf("append %d: close: %v", i+1, err)
			}
			model = append(model, "more"...)
			wantStored(t, st, "v/big", model)
			if got, want := m.Snapshot()[store.ReqMultipartCopy], int64(1-i); got != want {
				t.Errorf("append %d: %d parts copied, want %d", i+1, got, want)
			}
		}
	})
}

// noPartCopy is a store whose multipart uploads refuse CopyPart, as a
// service without UploadPartCopy does.
type noPartCopy struct{ store.Store }

func (s noPartCopy) NewMultipart(ctx context.Context, key string, opts store.PutOptions) (store.Multipart, error) {
	mp, err := s.Store.NewMultipart(ctx, key, opts)
	return refusingCopy{mp}, err
}

type refusingCopy struct{ store.Multipart }

func (refusingCopy) CopyPart(ctx context.Context, n int, src, srcETag string, offset, length int64) error {
	return store.NewError("multipart", src, store.ErrNotSupported, errors.New("NotImplemented: UploadPartCopy"))
}
