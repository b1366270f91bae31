package s3fs

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3vol/s3vol/store"
)

func lstat(t *testing.T, path string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		t.Fatalf("lstat %s: %v", filepath.Base(path), err)
	}
	return &st
}

func statTime(ts syscall.Timespec) time.Time { return time.Unix(ts.Sec, ts.Nsec) }

// TestSpecialFiles: mkfifo, mknod of devices and bind of a unix socket
// make zero-byte objects with the type in s3fs-fuse's mode metadata (and
// the device number in rdev); they survive a remount, objects in that
// format written by another tool show as such, a fifo carries data
// between processes of the host, and devices never open as devices.
func TestSpecialFiles(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		mt := mount(t, st, Options{Prefix: "v/"})
		if err := syscall.Mkfifo(mt.path("fifo"), 0o640); err != nil {
			t.Fatalf("mkfifo: %v", err)
		}
		if err := syscall.Mknod(mt.path("chr"), syscall.S_IFCHR|0o600, 0x0103); err != nil {
			t.Fatalf("mknod char device: %v", err)
		}
		if err := syscall.Mknod(mt.path("blk"), syscall.S_IFBLK|0o600, 0x0801); err != nil {
			t.Fatalf("mknod block device: %v", err)
		}
		l, err := net.Listen("unix", mt.path("sock"))
		if err != nil {
			t.Fatalf("bind of a unix socket: %v", err)
		}
		defer l.Close()

		want := []struct {
			name string
			mode uint32
			rdev uint64
		}{
			{"fifo", syscall.S_IFIFO | 0o640, 0},
			{"chr", syscall.S_IFCHR | 0o600, 0x0103},
			{"blk", syscall.S_IFBLK | 0o600, 0x0801},
			{"sock", syscall.S_IFSOCK, 0},
		}
		check := func(when string) {
			t.Helper()
			for _, w := range want {
				s := lstat(t, mt.path(w.name))
				mode := s.Mode
				if w.name == "sock" {
					mode &^= 0o7777 // the socket's permissions follow the umask
				}
				if mode != w.mode || s.Rdev != w.rdev || s.Size != 0 {
					t.Errorf("%s %s: mode %o rdev %#x size %d, want mode %o rdev %#x size 0",
						when, w.name, s.Mode, s.Rdev, s.Size, w.mode, w.rdev)
				}
			}
		}
		check("after creating")
		data, obj, err := getObject(t, st, "v/fifo")
		if err != nil || len(data) != 0 || obj.Metadata["mode"] != strconv.Itoa(syscall.S_IFIFO|0o640) {
			t.Fatalf("fifo in the store: %d bytes, metadata %v, %v; want 0 bytes, mode %d",
				len(data), obj.Metadata, err, syscall.S_IFIFO|0o640)
		}
		if _, obj, _ := getObject(t, st, "v/chr"); obj.Metadata["rdev"] != strconv.Itoa(0x0103) {
			t.Errorf("char device's metadata %v, want rdev %d", obj.Metadata, 0x0103)
		}

		// A fifo carries data between a writer and a reader.
		done := make(chan error, 1)
		go func() {
			w, err := os.OpenFile(mt.path("fifo"), os.O_WRONLY, 0)
			if err == nil {
				_, err = w.Write([]byte("through the fifo"))
				w.Close()
			}
			done <- err
		}()
		r, err := os.Open(mt.path("fifo"))
		if err != nil {
			t.Fatalf("opening the fifo: %v", err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || string(got) != "through the fifo" {
			t.Errorf("read from the fifo %q, %v", got, err)
		}
		if err := <-done; err != nil {
			t.Errorf("writing the fifo: %v", err)
		}

		// The mount is nodev: a device node does not open as a device.
		if f, err := os.Open(mt.path("chr")); !errors.Is(err, syscall.EACCES) {
			if f != nil {
				f.Close()
			}
			t.Errorf("opening a char device node: %v, want EACCES (nodev)", err)
		}

		// chmod, rename and unlink work on them.
		if err := os.Chmod(mt.path("fifo"), 0o604); err != nil {
			t.Fatalf("chmod of a fifo: %v", err)
		}
		want[0].mode = syscall.S_IFIFO | 0o604
		if err := os.Rename(mt.path("blk"), mt.path("blk2")); err != nil {
			t.Fatalf("rename of a block device: %v", err)
		}
		want[2].name = "blk2"
		l.Close()
		if err := os.Remove(mt.path("sock")); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("unlink of a socket: %v", err)
		}
		want = want[:3]

		// Written by another tool in s3fs-fuse's format.
		putObject(t, st, "v/other-fifo", nil, map[string]string{"mode": strconv.Itoa(syscall.S_IFIFO | 0o600)})
		want = append(want, struct {
			name string
			mode uint32
			rdev uint64
		}{"other-fifo", syscall.S_IFIFO | 0o600, 0})

		mt.remount()
		check("after a remount")
		entries, err := os.ReadDir(mt.dir)
		if err != nil {
			t.Fatal(err)
		}
		types := map[string]os.FileMode{}
		for _, e := range entries {
			types[e.Name()] = e.Type()
		}
		if types["fifo"] != os.ModeNamedPipe || types["chr"] != os.ModeDevice|os.ModeCharDevice || types["blk2"] != os.ModeDevice {
			t.Errorf("readdir types %v", types)
		}
	})
}

// TestCtime: ctime is stored and advances with every change of content
// or metadata; an access time set explicitly is kept.
func TestCtime(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		mt := mount(t, st, Options{Prefix: "v/"})
		mt.write("f", []byte("x"))
		past := time.Unix(1500000000, 0)
		if err := os.Chtimes(mt.path("f"), past, past); err != nil {
			t.Fatal(err)
		}
		s := lstat(t, mt.path("f"))
		ctime := statTime(s.Ctim)
		if !statTime(s.Mtim).Equal(past) || !ctime.After(past) {
			t.Fatalf("after utimes to %v: mtime %v ctime %v; want ctime now", past, statTime(s.Mtim), ctime)
		}
		advanced := func(what string) {
			t.Helper()
			c := statTime(lstat(t, mt.path("f")).Ctim)
			if !c.After(ctime) {
				t.Errorf("%s: ctime %v, not after %v", what, c, ctime)
			}
			ctime = c
		}
		if err := os.Chmod(mt.path("f"), 0o600); err != nil {
			t.Fatal(err)
		}
		advanced("chmod")
		if err := os.Chown(mt.path("f"), 1234, 5678); err != nil {
			t.Fatal(err)
		}
		advanced("chown")
		if err := os.WriteFile(mt.path("f"), []byte("yy"), 0o600); err != nil {
			t.Fatal(err)
		}
		advanced("write")
		atime := time.Unix(1400000000, 5)
		if err := os.Chtimes(mt.path("f"), atime, time.Time{}); err != nil {
			t.Fatal(err)
		}
		advanced("utimes of atime")
		mtime := statTime(lstat(t, mt.path("f")).Mtim)

		_, obj, err := getObject(t, st, "v/f")
		if err != nil || obj.Metadata["ctime"] != strconv.FormatInt(ctime.Unix(), 10) {
			t.Errorf("stored ctime %q (%v), want %d", obj.Metadata["ctime"], err, ctime.Unix())
		}
		mt.remount()
		s = lstat(t, mt.path("f"))
		if !statTime(s.Ctim).Equal(ctime) || !statTime(s.Atim).Equal(atime) || !statTime(s.Mtim).Equal(mtime) {
			t.Errorf("after a remount: ctime %v atime %v mtime %v, want %v %v %v",
				statTime(s.Ctim), statTime(s.Atim), statTime(s.Mtim), ctime, atime, mtime)
		}
	})
}

// TestDirectoryTimesAndLinks: a directory's mtime and ctime advance when
// an entry is created, renamed or removed in it, and its link count is 2
// plus its subdirectories.
func TestDirectoryTimesAndLinks(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		mt := mount(t, st, Options{Prefix: "v/"})
		if err := os.Mkdir(mt.path("d"), 0o755); err != nil {
			t.Fatal(err)
		}
		s := lstat(t, mt.path("d"))
		mtime, ctime := statTime(s.Mtim), statTime(s.Ctim)
		advanced := func(what string) {
			t.Helper()
			s := lstat(t, mt.path("d"))
			m, c := statTime(s.Mtim), statTime(s.Ctim)
			if !m.After(mtime) || !c.After(ctime) {
				t.Errorf("%s: directory mtime %v ctime %v, not after %v %v", what, m, c, mtime, ctime)
			}
			mtime, ctime = m, c
		}
		mt.write("d/f", []byte("x"))
		advanced("create")
		if err := os.Rename(mt.path("d/f"), mt.path("d/g")); err != nil {
			t.Fatal(err)
		}
		advanced("rename")
		if err := syscall.Mkfifo(mt.path("d/p"), 0o600); err != nil {
			t.Fatal(err)
		}
		advanced("mkfifo")
		if err := os.Remove(mt.path("d/g")); err != nil {
			t.Fatal(err)
		}
		advanced("unlink")
		if err := os.Mkdir(mt.path("d/sub1"), 0o755); err != nil {
			t.Fatal(err)
		}
		advanced("mkdir")
		if err := os.Mkdir(mt.path("d/sub2"), 0o755); err != nil {
			t.Fatal(err)
		}
		if n := lstat(t, mt.path("d")).Nlink; n != 4 {
			t.Errorf("nlink of a directory with 2 subdirectories: %d, want 4", n)
		}
		if err := os.Remove(mt.path("d/sub1")); err != nil {
			t.Fatal(err)
		}
		advanced("rmdir")
		if n := lstat(t, mt.path("d")).Nlink; n != 3 {
			t.Errorf("nlink after rmdir: %d, want 3", n)
		}
		mt.remount()
		if _, err := os.ReadDir(mt.path("d")); err != nil {
			t.Fatal(err)
		}
		if n := lstat(t, mt.path("d")).Nlink; n != 3 {
			t.Errorf("nlink after a remount and a listing: %d, want 3", n)
		}
	})
}

// TestUnlinkedOpenFile: an open file that was unlinked has no link.
func TestUnlinkedOpenFile(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		mt := mount(t, st, Options{Prefix: "v/"})
		mt.write("f", []byte("x"))
		f, err := os.Open(mt.path("f"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var s syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &s); err != nil || s.Nlink != 1 {
			t.Fatalf("fstat before unlink: nlink %d, %v; want 1", s.Nlink, err)
		}
		if err := os.Remove(mt.path("f")); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Fstat(int(f.Fd()), &s); err != nil || s.Nlink != 0 {
			t.Errorf("fstat after unlink: nlink %d, %v; want 0", s.Nlink, err)
		}
	})
}

// TestTooBig: a size the store cannot hold (S3's 5 TiB) is refused with
// EFBIG by the truncate or write asking for it, and the file stays as it
// was and can be closed.
func TestTooBig(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		mt := mount(t, st, Options{Prefix: "v/"})
		f, err := os.Create(mt.path("f"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte("data")); err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(999_999_999_999_999); !errors.Is(err, syscall.EFBIG) {
			t.Errorf("ftruncate to 999,999,999,999,999 bytes: %v, want EFBIG", err)
		}
		if _, err := f.WriteAt([]byte("x"), store.MaxObjectSize); !errors.Is(err, syscall.EFBIG) {
			t.Errorf("write past 5 TiB: %v, want EFBIG", err)
		}
		if err := f.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := os.Truncate(mt.path("f"), store.MaxObjectSize+1); !errors.Is(err, syscall.EFBIG) {
			t.Errorf("truncate to 5 TiB + 1: %v, want EFBIG", err)
		}
		if got := mt.read("f"); string(got) != "data" {
			t.Errorf("content %q, want %q", got, "data")
		}
	})
}

// TestLongNames: names the store cannot hold are ENAMETOOLONG: paths whose
// key is over S3's 1,024 bytes, and on MinIO directory names of 247 to
// 255 bytes, which it refuses (its own on-disk layout).
func TestLongNames(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		mt := mount(t, st, Options{Prefix: "v/"})
		name := strings.Repeat("d", 250)
		err := os.Mkdir(mt.path(name), 0o755)
		if err != nil && !errors.Is(err, syscall.ENAMETOOLONG) {
			t.Errorf("mkdir of a 250-byte name: %v, want success or ENAMETOOLONG", err)
		}
		if err == nil {
			if _, err := os.Stat(mt.path(name)); err != nil {
				t.Errorf("stat of the 250-byte directory: %v", err)
			}
		}
		if err := syscall.Mkfifo(mt.path(strings.Repeat("p", 255)), 0o600); err != nil {
			t.Errorf("mkfifo of a 255-byte name: %v", err)
		}
		deep := ""
		for i := 0; len(deep) < 1000; i++ {
			deep = filepath.Join(deep, strings.Repeat(strconv.Itoa(i%10), 200))
			if err := os.Mkdir(mt.path(deep), 0o755); err != nil {
				if !errors.Is(err, syscall.ENAMETOOLONG) || len(deep) < 1000 {
					t.Fatalf("mkdir of a %d-byte path: %v", len(deep), err)
				}
				break
			}
		}
		if err := os.WriteFile(mt.path(filepath.Join(filepath.Dir(deep), strings.Repeat("f", 250))), nil, 0o644); !errors.Is(err, syscall.ENAMETOOLONG) {
			t.Errorf("create of a path over 1,024 bytes: %v, want ENAMETOOLONG", err)
		}
	})
}
