package s3fs

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
)

// mountFaulty mounts a local store through a fault-injecting wrapper; the
// wrapped store is returned too, to check what it holds behind the
// faults.
func mountFaulty(t *testing.T, opts Options) (*faultstore.Store, store.Store, *mnt) {
	t.Helper()
	inner := backends[0].open(t)
	fst := faultstore.New(inner)
	return fst, inner, mount(t, fst, opts)
}

// storedContent reads key straight from st, failing the test if it is
// missing.
func storedContent(t *testing.T, st store.Store, key string) string {
	t.Helper()
	data, _, err := getObject(t, st, key)
	if err != nil {
		t.Fatalf("%s in the store: %v", key, err)
	}
	return string(data)
}

// writeOpen writes through an open file, failing the test on an error.
func writeOpen(t *testing.T, f *os.File, s string) {
	t.Helper()
	if _, err := f.WriteString(s); err != nil {
		t.Fatalf("write through the open file: %v", err)
	}
}

// TestFailedUnlinkKeepsFile (issue 13.3): an unlink whose Delete fails
// leaves the file as it was: the caller gets EIO, the bytes not yet
// stored and those written afterwards through an open descriptor reach
// the store at close.
func TestFailedUnlinkKeepsFile(t *testing.T) {
	fst, inner, mt := mountFaulty(t, Options{Prefix: "v/"})
	for _, stored := range []bool{true, false} {
		name := map[bool]string{true: "stored", false: "new"}[stored]
		t.Run(name, func(t *testing.T) {
			if stored {
				mt.write(name, []byte("old;"))
			}
			f, err := os.OpenFile(mt.path(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			writeOpen(t, f, "before;")
			fst.Add(faultstore.Rule{Op: faultstore.OpDelete, Key: "v/" + name, Err: store.ErrUnavailable})
			if err := os.Remove(mt.path(name)); !errors.Is(err, syscall.EIO) {
				t.Fatalf("unlink with the store unavailable: %v, want EIO", err)
			}
			fst.Clear()
			writeOpen(t, f, "after")
			if err := f.Close(); err != nil {
				t.Fatalf("close after the failed unlink: %v", err)
			}
			want := "before;after"
			if stored {
				want = "old;" + want
			}
			if got := storedContent(t, inner, "v/"+name); got != want {
				t.Fatalf("the store holds %q, want %q", got, want)
			}
			if got := mt.read(name); string(got) != want {
				t.Fatalf("the mount reads %q, want %q", got, want)
			}
			if err := os.Remove(mt.path(name)); err != nil {
				t.Fatalf("unlink once the store works: %v", err)
			}
			if _, _, err := getObject(t, inner, "v/"+name); !store.IsNotFound(err) {
				t.Fatalf("the store after the unlink: %v, want not found", err)
			}
		})
	}
}

// TestFailedRenameKeepsTarget (issue 13.3): a rename onto an open file
// whose Copy fails leaves the target as it was: EIO, and the target's
// unstored bytes and later writes reach the store at its close; the
// source stays whole.
func TestFailedRenameKeepsTarget(t *testing.T) {
	fst, inner, mt := mountFaulty(t, Options{Prefix: "v/"})
	mt.write("src", []byte("source"))
	mt.write("dst", []byte("old;"))
	f, err := os.OpenFile(mt.path("dst"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	writeOpen(t, f, "before;")
	fst.Add(faultstore.Rule{Op: faultstore.OpCopy, Key: "v/dst", Err: store.ErrUnavailable})
	if err := os.Rename(mt.path("src"), mt.path("dst")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("rename with the store unavailable: %v, want EIO", err)
	}
	fst.Clear()
	writeOpen(t, f, "after")
	if err := f.Close(); err != nil {
		t.Fatalf("close of the target after the failed rename: %v", err)
	}
	want := "old;before;after"
	if got := storedContent(t, inner, "v/dst"); got != want {
		t.Fatalf("the target in the store holds %q, want %q", got, want)
	}
	if got := storedContent(t, inner, "v/src"); got != "source" {
		t.Fatalf("the source in the store holds %q", got)
	}
	if err := os.Rename(mt.path("src"), mt.path("dst")); err != nil {
		t.Fatalf("rename once the store works: %v", err)
	}
	if got := mt.read("dst"); string(got) != "source" {
		t.Fatalf("the target after the rename reads %q", got)
	}
}
