package s3fs

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"
	"time"

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

// A rename whose copy landed but whose delete of the source failed returns
// EIO and leaves no second copy at the new name when nothing was there
// before: the copy is undone, the source stays whole, and the rename works
// once the store does (issue 13, leftover of 3). Files and symlinks alike.
func TestFailedRenameDeleteUndoesCopy(t *testing.T) {
	fst, inner, mt := mountFaulty(t, Options{Prefix: "v/"})
	mt.write("src", []byte("source"))
	if err := os.Symlink("src", mt.path("link")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to string }{{"src", "dst"}, {"link", "link2"}} {
		fst.Add(faultstore.Rule{Op: faultstore.OpDelete, Key: "v/" + c.from, Err: store.ErrUnavailable})
		if err := os.Rename(mt.path(c.from), mt.path(c.to)); !errors.Is(err, syscall.EIO) {
			t.Fatalf("rename %s with its delete failing: %v, want EIO", c.from, err)
		}
		fst.Clear()
		if _, err := inner.Stat(context.Background(), "v/"+c.to); !store.IsNotFound(err) {
			t.Fatalf("after the failed rename of %s the store has %s: %v; want the copy undone", c.from, c.to, err)
		}
		if _, err := os.Lstat(mt.path(c.to)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("after the failed rename of %s the mount shows %s: %v", c.from, c.to, err)
		}
		if err := os.Rename(mt.path(c.from), mt.path(c.to)); err != nil {
			t.Fatalf("rename of %s once the store works: %v", c.from, err)
		}
		if _, err := inner.Stat(context.Background(), "v/"+c.from); !store.IsNotFound(err) {
			t.Fatalf("after the rename %s is still in the store: %v", c.from, err)
		}
	}
	if got := storedContent(t, inner, "v/dst"); got != "source" {
		t.Fatalf("the renamed file holds %q", got)
	}
	if got, err := os.Readlink(mt.path("link2")); err != nil || got != "src" {
		t.Fatalf("the renamed symlink: %q, %v", got, err)
	}
}

// A rename onto an existing file whose delete of the source failed cannot
// be undone (the copy replaced the file): it returns EIO, and the mount
// shows what the store holds, the moved content at both names.
func TestFailedRenameDeleteOntoFile(t *testing.T) {
	fst, inner, mt := mountFaulty(t, Options{Prefix: "v/"})
	mt.write("src", []byte("source"))
	mt.write("dst", []byte("old"))
	if got := mt.read("dst"); string(got) != "old" {
		t.Fatalf("dst reads %q", got)
	}
	fst.Add(faultstore.Rule{Op: faultstore.OpDelete, Key: "v/src", Err: store.ErrUnavailable})
	if err := os.Rename(mt.path("src"), mt.path("dst")); !errors.Is(err, syscall.EIO) {
		t.Fatalf("rename with its delete failing: %v, want EIO", err)
	}
	fst.Clear()
	for _, name := range []string{"src", "dst"} {
		if got := storedContent(t, inner, "v/"+name); got != "source" {
			t.Fatalf("the store holds %q at %s, want the moved content", got, name)
		}
		// Within the metadata TTL, as for any change in the store.
		deadline := time.Now().Add(10 * time.Second)
		for got := mt.read(name); string(got) != "source"; got = mt.read(name) {
			if time.Now().After(deadline) {
				t.Fatalf("the mount reads %q at %s, want what the store holds", got, name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := os.Rename(mt.path("src"), mt.path("dst")); err != nil {
		t.Fatalf("rename once the store works: %v", err)
	}
	if _, err := inner.Stat(context.Background(), "v/src"); !store.IsNotFound(err) {
		t.Fatalf("after the rename src is still in the store: %v", err)
	}
}
