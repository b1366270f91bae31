package s3fs

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
)

// The tests below fail one kind of store call on each path of the
// filesystem (issue 13, fault store) and check, for each: the caller gets
// EIO (the store is unavailable), no torn object is visible in the store
// (old or new content, never a mix), nothing acknowledged is lost, and
// the mount works again once the store does.

// unavailable fails every op call on keys matching key.
func unavailable(op faultstore.Op, key string) faultstore.Rule {
	return faultstore.Rule{Op: op, Key: key, Err: store.ErrUnavailable}
}

func wantEIO(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, syscall.EIO) {
		t.Fatalf("%s with the store failing: %v, want EIO", what, err)
	}
}

func wantNotStored(t *testing.T, st store.Store, key string) {
	t.Helper()
	if _, _, err := getObject(t, st, key); !store.IsNotFound(err) {
		t.Fatalf("%s in the store: %v, want not found", key, err)
	}
}

// otherMountReads checks what a second mount of the store (another host)
// reads at name.
func otherMountReads(t *testing.T, st store.Store, name string, want []byte) {
	t.Helper()
	other := mount(t, st, Options{Prefix: "v/"})
	if got := other.read(name); !bytes.Equal(got, want) {
		t.Fatalf("another mount reads %d bytes at %s, not the %d expected (torn or lost)", len(got), name, len(want))
	}
}

// worksAgain checks that the mount writes and reads a new file.
func worksAgain(t *testing.T, mt *mnt, st store.Store) {
	t.Helper()
	data := pattern(9, 100<<10)
	mt.write("works-again", data)
	if got := mt.read("works-again"); !bytes.Equal(got, data) {
		t.Fatal("the mount reads back something else after the store recovered")
	}
	wantStored(t, st, "v/works-again", data)
}

// faultyMount mounts a local store behind a fault store, with parts of the
// smallest size so that a few MiB stream in several parts.
func faultyMount(t *testing.T) (*faultstore.Store, store.Store, *mnt) {
	return mountFaulty(t, Options{Prefix: "v/", PartSize: store.MinPartSize})
}

func TestFaultLookup(t *testing.T) {
	fst, inner, mt := faultyMount(t)
	data := pattern(1, 1000)
	putObject(t, inner, "v/f", data, nil)
	fst.Add(unavailable(faultstore.OpStat, ""))
	fst.Add(unavailable(faultstore.OpList, ""))
	_, err := os.Stat(mt.path("f"))
	wantEIO(t, "lookup", err) // not ENOENT: the file may well exist
	fst.Clear()
	if got := mt.read("f"); !bytes.Equal(got, data) {
		t.Fatal("the file reads otherwise once the store works")
	}
	worksAgain(t, mt, inner)
}

func TestFaultReaddir(t *testing.T) {
	fst, inner, mt := faultyMount(t)
	putObject(t, inner, "v/d/f", []byte("x"), nil)
	if err := os.Mkdir(mt.path("e"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mt.path("d")); err != nil {
		t.Fatal(err)
	}
	fst.Add(faultstore.Rule{Op: faultstore.OpList, Key: "v/d/", AfterBytes: 0, Err: store.ErrUnavailable})
	_, err := os.ReadDir(mt.path("d"))
	wantEIO(t, "readdir", err)
	fst.Clear()
	if names := readDirNames(t, mt.path("d")); len(names) != 1 || names[0] != "f" {
		t.Fatalf("readdir once the store works: %v", names)
	}
	worksAgain(t, mt, inner)
}

func TestFaultReadMidStream(t *testing.T) {
	fst, inner, mt := faultyMount(t)
	data := pattern(2, 6<<20)
	putObject(t, inner, "v/f", data, nil)
	// Every body breaks off after 100 KiB (reads are ranged GETs of a
	// chunk each).
	fst.Add(faultstore.Rule{Op: faultstore.OpRead, Key: "v/f", AfterBytes: 100 << 10, Err: store.ErrUnavailable})
	f, err := os.Open(mt.path("f"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	f.Close()
	wantEIO(t, "a read cut off mid-stream", err)
	if !bytes.Equal(got, data[:len(got)]) {
		t.Fatal("the bytes read before the failure are not the file's")
	}
	fst.Clear()
	if got := mt.read("f"); !bytes.Equal(got, data) {
		t.Fatal("the file reads otherwise once the store works")
	}
	worksAgain(t, mt, inner)
}

// reopenAndClose commits a file's changes kept locally after a failed
// commit: the close of a new writer stores them.
func reopenAndClose(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("close of the file once the store works: %v", err)
	}
}

func TestFaultCreate(t *testing.T) {
	fst, inner, mt := faultyMount(t)
	fst.Add(unavailable(faultstore.OpPut, "v/new"))
	f, err := os.OpenFile(mt.path("new"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	writeOpen(t, f, "new file")
	wantEIO(t, "close of a new file", f.Close())
	wantNotStored(t, inner, "v/new")
	fst.Clear()
	reopenAndClose(t, mt.path("new"))
	wantStored(t, inner, "v/new", []byte("new file"))
	worksAgain(t, mt, inner)
}

// streamFile writes data to path, created or truncated, in 1 MiB writes,
// and closes it; it returns the first error.
func streamFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	for off := 0; off < len(data); off += 1 << 20 {
		if _, err := f.Write(data[off:min(off+1<<20, len(data))]); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

func TestFaultStreamingUpload(t *testing.T) {
	for _, op := range []faultstore.Op{faultstore.OpNewMultipart, faultstore.OpUploadPart, faultstore.OpComplete} {
		t.Run(string(op), func(t *testing.T) {
			fst, inner, mt := faultyMount(t)
			old := pattern(3, 1<<20)
			mt.write("old", old)
			data := pattern(4, 16<<20) // four parts
			// The second part fails (or every call of the other ops).
			fst.Add(faultstore.Rule{Op: op, Nth: 2, Err: store.ErrUnavailable})
			if op != faultstore.OpUploadPart {
				fst.Clear()
				fst.Add(unavailable(op, ""))
			}
			wantEIO(t, "streaming over an existing file", streamFile(mt.path("old"), data))
			wantStored(t, inner, "v/old", old)
			otherMountReads(t, inner, "old", old)
			fst.Clear()
			if err := streamFile(mt.path("old"), data); err != nil {
				t.Fatalf("streaming once the store works: %v", err)
			}
			wantStored(t, inner, "v/old", data)
			if got := mt.read("old"); !bytes.Equal(got, data) {
				t.Fatal("the file reads otherwise")
			}
			worksAgain(t, mt, inner)
		})
	}
}

func TestFaultRenameFile(t *testing.T) {
	for _, op := range []faultstore.Op{faultstore.OpCopy, faultstore.OpDelete} {
		for _, dirty := range []bool{false, true} {
			name := string(op) + map[bool]string{false: "/clean", true: "/dirty"}[dirty]
			t.Run(name, func(t *testing.T) {
				fst, inner, mt := faultyMount(t)
				data := pattern(5, 100<<10)
				mt.write("a", data)
				var f *os.File
				if dirty {
					var err error
					if f, err = os.OpenFile(mt.path("a"), os.O_WRONLY|os.O_APPEND, 0); err != nil {
						t.Fatal(err)
					}
					defer f.Close()
					writeOpen(t, f, "more")
					data = append(data, "more"...)
					op := op
					if op == faultstore.OpCopy {
						op = faultstore.OpPut // a dirty file is stored at its new name
					}
					fst.Add(unavailable(op, ""))
				} else {
					fst.Add(unavailable(op, ""))
				}
				wantEIO(t, "rename", os.Rename(mt.path("a"), mt.path("b")))
				fst.Clear()
				if err := os.Rename(mt.path("a"), mt.path("b")); err != nil {
					t.Fatalf("rename once the store works: %v", err)
				}
				if f != nil {
					if err := f.Close(); err != nil {
						t.Fatalf("close of the moved file: %v", err)
					}
				}
				wantStored(t, inner, "v/b", data)
				wantNotStored(t, inner, "v/a")
				if got := mt.read("b"); !bytes.Equal(got, data) {
					t.Fatal("the moved file reads otherwise")
				}
				worksAgain(t, mt, inner)
			})
		}
	}
}

func TestFaultRenameDir(t *testing.T) {
	for _, op := range []faultstore.Op{faultstore.OpList, faultstore.OpCopy, faultstore.OpDeleteMany} {
		t.Run(string(op), func(t *testing.T) {
			fst, inner, mt := faultyMount(t)
			files := map[string][]byte{}
			for i, name := range []string{"a/x", "a/y", "a/sub/z"} {
				files[name] = pattern(byte(i), 10<<10)
				putObject(t, inner, "v/"+name, files[name], nil)
			}
			readDirNames(t, mt.path("a"))
			fst.Add(faultstore.Rule{Op: op, Nth: 2, Times: 1, Err: store.ErrUnavailable})
			if op == faultstore.OpDeleteMany {
				fst.Clear()
				fst.Add(faultstore.Rule{Op: op, Times: 1, Err: store.ErrUnavailable})
			}
			wantEIO(t, "directory rename", syscall.Rename(mt.path("a"), mt.path("b")))
			fst.Clear()
			if err := syscall.Rename(mt.path("a"), mt.path("b")); err != nil {
				t.Fatalf("directory rename once the store works: %v", err)
			}
			for name, data := range files {
				moved := "b" + name[1:]
				wantStored(t, inner, "v/"+moved, data)
				wantNotStored(t, inner, "v/"+name)
				if got := mt.read(moved); !bytes.Equal(got, data) {
					t.Fatalf("%s reads otherwise", moved)
				}
			}
			worksAgain(t, mt, inner)
		})
	}
}

func TestFaultSetattr(t *testing.T) {
	t.Run("chmod", func(t *testing.T) {
		fst, inner, mt := faultyMount(t)
		data := pattern(6, 1000)
		mt.write("f", data)
		fst.Add(unavailable(faultstore.OpCopy, ""))
		wantEIO(t, "chmod", os.Chmod(mt.path("f"), 0o600))
		fst.Clear()
		if err := os.Chmod(mt.path("f"), 0o600); err != nil {
			t.Fatal(err)
		}
		mt.remount()
		if fi, err := os.Stat(mt.path("f")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("after the chmod: %v, %v", fi, err)
		}
		wantStored(t, inner, "v/f", data)
		worksAgain(t, mt, inner)
	})
	t.Run("truncate", func(t *testing.T) {
		fst, inner, mt := faultyMount(t)
		data := pattern(7, 1000)
		mt.write("f", data)
		fst.Add(unavailable(faultstore.OpPut, ""))
		wantEIO(t, "truncate", os.Truncate(mt.path("f"), 100))
		wantStored(t, inner, "v/f", data)
		fst.Clear()
		if err := os.Truncate(mt.path("f"), 100); err != nil {
			t.Fatalf("truncate once the store works: %v", err)
		}
		wantStored(t, inner, "v/f", data[:100])
		worksAgain(t, mt, inner)
	})
}

// TestFaultCommit: changes in place committed at close or fsync; a failed
// commit keeps them for the next one.
func TestFaultCommit(t *testing.T) {
	for _, how := range []string{"close", "fsync"} {
		t.Run(how, func(t *testing.T) {
			fst, inner, mt := faultyMount(t)
			old := pattern(8, 300<<10)
			mt.write("f", old)
			f, err := os.OpenFile(mt.path("f"), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte("changed"), 1000); err != nil {
				t.Fatal(err)
			}
			want := append([]byte(nil), old...)
			copy(want[1000:], "changed")
			fst.Add(unavailable(faultstore.OpPut, ""))
			if how == "close" {
				wantEIO(t, "close", f.Close())
			} else {
				wantEIO(t, "fsync", f.Sync())
			}
			wantStored(t, inner, "v/f", old)
			otherMountReads(t, inner, "f", old)
			fst.Clear()
			if how == "close" {
				reopenAndClose(t, mt.path("f"))
			} else {
				if err := f.Sync(); err != nil {
					t.Fatalf("fsync once the store works: %v", err)
				}
			}
			wantStored(t, inner, "v/f", want)
			if got := mt.read("f"); !bytes.Equal(got, want) {
				t.Fatal("the file reads otherwise")
			}
			worksAgain(t, mt, inner)
		})
	}
}

// TestFaultPatchCommit: a big file changed in place is stored as a patch
// (its unchanged blocks copied inside the store); a failed part copy or
// completion fails the close and keeps the changes for the next commit.
func TestFaultPatchCommit(t *testing.T) {
	for _, op := range []faultstore.Op{faultstore.OpCopyPart, faultstore.OpUploadPart, faultstore.OpComplete} {
		t.Run(string(op), func(t *testing.T) {
			fst, inner, mt := faultyMount(t)
			old := pattern(10, 12<<20) // three blocks of PartSize
			mt.write("f", old)
			f, err := os.OpenFile(mt.path("f"), os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt([]byte("changed"), 6<<20); err != nil {
				t.Fatal(err)
			}
			want := append([]byte(nil), old...)
			copy(want[6<<20:], "changed")
			fst.Add(unavailable(op, ""))
			wantEIO(t, "close", f.Close())
			wantStored(t, inner, "v/f", old)
			fst.Clear()
			reopenAndClose(t, mt.path("f"))
			wantStored(t, inner, "v/f", want)
			worksAgain(t, mt, inner)
		})
	}
}

// TestFaultLostReply: the store did what was asked but its reply was
// lost: the caller gets EIO, and a retry converges on the intended state.
func TestFaultLostReply(t *testing.T) {
	lost := func(op faultstore.Op) faultstore.Rule {
		return faultstore.Rule{Op: op, Times: 1, AfterCall: true, Err: store.ErrUnavailable}
	}
	t.Run("commit", func(t *testing.T) {
		fst, inner, mt := faultyMount(t)
		fst.Add(lost(faultstore.OpPut))
		f, err := os.Create(mt.path("f"))
		if err != nil {
			t.Fatal(err)
		}
		writeOpen(t, f, "content")
		wantEIO(t, "close", f.Close())
		reopenAndClose(t, mt.path("f"))
		wantStored(t, inner, "v/f", []byte("content"))
		if got := mt.read("f"); string(got) != "content" {
			t.Fatalf("the file reads %q", got)
		}
		worksAgain(t, mt, inner)
	})
	t.Run("unlink", func(t *testing.T) {
		fst, inner, mt := faultyMount(t)
		mt.write("f", []byte("content"))
		fst.Add(lost(faultstore.OpDelete))
		wantEIO(t, "unlink", os.Remove(mt.path("f")))
		if err := os.Remove(mt.path("f")); err != nil && !os.IsNotExist(err) {
			t.Fatalf("unlink retried: %v", err)
		}
		wantNotStored(t, inner, "v/f")
		if _, err := os.Stat(mt.path("f")); !os.IsNotExist(err) {
			t.Fatalf("stat after the unlink: %v", err)
		}
		worksAgain(t, mt, inner)
	})
	t.Run("rename", func(t *testing.T) {
		fst, inner, mt := faultyMount(t)
		mt.write("a", []byte("content"))
		fst.Add(lost(faultstore.OpCopy))
		wantEIO(t, "rename", os.Rename(mt.path("a"), mt.path("b")))
		if err := os.Rename(mt.path("a"), mt.path("b")); err != nil {
			t.Fatalf("rename retried: %v", err)
		}
		wantStored(t, inner, "v/b", []byte("content"))
		wantNotStored(t, inner, "v/a")
		worksAgain(t, mt, inner)
	})
}

// TestFaultCreateLookup: creating a name needs to know it is free; with
// the store unavailable the create fails rather than guess.
func TestFaultCreateLookup(t *testing.T) {
	fst, inner, mt := faultyMount(t)
	putObject(t, inner, "v/f", []byte("there"), nil)
	fst.Add(unavailable(faultstore.OpStat, ""))
	fst.Add(unavailable(faultstore.OpList, ""))
	_, err := os.OpenFile(mt.path("f"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	wantEIO(t, "create", err)
	fst.Clear()
	if _, err := os.OpenFile(mt.path("f"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); !os.IsExist(err) {
		t.Fatalf("exclusive create of an existing file once the store works: %v, want EEXIST", err)
	}
	wantStored(t, inner, "v/f", []byte("there"))
	worksAgain(t, mt, inner)
}

func TestFaultDirOps(t *testing.T) {
	fst, inner, mt := faultyMount(t)
	fst.Add(unavailable(faultstore.OpPut, ""))
	wantEIO(t, "mkdir", os.Mkdir(mt.path("d"), 0o755))
	wantEIO(t, "symlink", os.Symlink("target", mt.path("l")))
	fst.Clear()
	wantNotStored(t, inner, "v/d/")
	wantNotStored(t, inner, "v/l")
	if err := os.Mkdir(mt.path("d"), 0o755); err != nil {
		t.Fatalf("mkdir once the store works: %v", err)
	}
	if err := os.Symlink("target", mt.path("l")); err != nil {
		t.Fatalf("symlink once the store works: %v", err)
	}
	for _, op := range []faultstore.Op{faultstore.OpList, faultstore.OpDelete} {
		fst.Add(unavailable(op, ""))
		wantEIO(t, "rmdir", os.Remove(mt.path("d")))
		fst.Clear()
		if fi, err := os.Stat(mt.path("d")); err != nil || !fi.IsDir() {
			t.Fatalf("the directory after a failed rmdir: %v, %v", fi, err)
		}
	}
	if err := os.Remove(mt.path("d")); err != nil {
		t.Fatalf("rmdir once the store works: %v", err)
	}
	if target, err := os.Readlink(mt.path("l")); err != nil || target != "target" {
		t.Fatalf("readlink: %q, %v", target, err)
	}
	worksAgain(t, mt, inner)
}

// TestFaultStagedFetch: a file modified in place fetches the stored bytes
// a read needs; a fetch cut off mid-stream fails the read, and the read
// works once the store does.
func TestFaultStagedFetch(t *testing.T) {
	fst, inner, mt := faultyMount(t)
	data := pattern(11, 2<<20)
	putObject(t, inner, "v/f", data, nil)
	f, err := os.OpenFile(mt.path("f"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("changed"), 0); err != nil {
		t.Fatal(err)
	}
	copy(data, "changed")
	fst.Add(faultstore.Rule{Op: faultstore.OpRead, Key: "v/f", AfterBytes: 1000, Err: store.ErrUnavailable})
	buf := make([]byte, 4096)
	_, err = f.ReadAt(buf, 1<<20)
	wantEIO(t, "a read needing stored bytes", err)
	fst.Clear()
	if _, err := f.ReadAt(buf, 1<<20); err != nil || !bytes.Equal(buf, data[1<<20:1<<20+4096]) {
		t.Fatalf("the read once the store works: %v (or other bytes)", err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	wantStored(t, inner, "v/f", data)
	worksAgain(t, mt, inner)
}
