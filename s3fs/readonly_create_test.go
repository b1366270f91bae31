package s3fs

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// createReadOnly makes a file as flock(1) makes its lock file:
// open(O_CREAT|O_RDONLY), nothing written.
func createReadOnly(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestCreateReadOnly (issue 13.15): a file created with O_RDONLY is
// stored at its close like any other, so another mount (another host)
// sees it, and it outlives its inode in this mount.
func TestCreateReadOnly(t *testing.T) {
	st := backends[0].open(t)
	a := mount(t, st, Options{Prefix: "v/"})
	b := mount(t, st, Options{Prefix: "v/"})
	f := createReadOnly(t, a.path("a.lock"))
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close of the new read-only file: %v", err)
	}
	if _, _, err := getObject(t, st, "v/a.lock"); err != nil {
		t.Errorf("the store after the close: %v, want the empty object", err)
	}
	if fi, err := os.Stat(b.path("a.lock")); err != nil || fi.Size() != 0 {
		t.Errorf("the second mount stats the file: %v, %v; want an empty file", fi, err)
	}
}

// TestRenameDirOntoReadOnlyCreated (issue 13.15): a directory holding
// only a file created read-only is not empty: renaming a directory onto
// it fails with ENOTEMPTY and keeps the file, closed or still open.
func TestRenameDirOntoReadOnlyCreated(t *testing.T) {
	mt := mountLocal(t, Options{Prefix: "v/"})
	for _, open := range []bool{false, true} {
		name := map[bool]string{false: "closed", true: "open"}[open]
		t.Run(name, func(t *testing.T) {
			c, d := mt.path(name+"/c"), mt.path(name+"/d")
			for _, dir := range []string{mt.path(name), c, d} {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			mt.write(name+"/c/x", []byte("keep"))
			f := createReadOnly(t, d+"/lock")
			defer f.Close()
			if !open {
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
			}
			// os.Rename refuses an existing directory as the target itself.
			if err := syscall.Rename(c, d); !errors.Is(err, syscall.ENOTEMPTY) {
				t.Fatalf("rename of a directory onto one holding a file: %v, want ENOTEMPTY", err)
			}
			if _, err := os.Stat(d + "/lock"); err != nil {
				t.Errorf("the target's file after the failed rename: %v", err)
			}
			if got := mt.read(name + "/c/x"); string(got) != "keep" {
				t.Errorf("the source's file reads %q", got)
			}
		})
	}
}
