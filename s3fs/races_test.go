package s3fs

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
)

// mountLocal mounts a fresh local store: the races below lie in the
// filesystem's own locking, whatever the store.
func mountLocal(t *testing.T, opts Options) *mnt {
	t.Helper()
	return mount(t, backends[0].open(t), opts)
}

// untilDone runs fn over and over in the background until stop is
// closed; the returned func waits for it to finish.
func untilDone(stop <-chan struct{}, fn func()) (wait func()) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				fn()
			}
		}
	}()
	return wg.Wait
}

// TestWriteWhileListing (issue 13.1): a file being written (its size held
// by its local content, changed under the node's dataMu) while its
// directory is listed and the file stat'ed: listings read the size of
// files created here and not yet stored, and getattr reads it too, both
// under the node's mu only. Run under -race.
func TestWriteWhileListing(t *testing.T) {
	// A TTL this short makes nearly every readdir list the directory
	// again, so that listings run between the writes.
	mt := mountLocal(t, Options{Prefix: "v/", MetadataTTL: time.Millisecond})
	if err := os.Mkdir(mt.path("d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"small", "staged"} {
		t.Run(name, func(t *testing.T) {
			f, err := os.Create(mt.path("d/" + name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			stop := make(chan struct{})
			waitList := untilDone(stop, func() { readDirNames(t, mt.path("d")) })
			waitStat := untilDone(stop, func() { os.Stat(mt.path("d/" + name)) })
			chunk := bytes.Repeat([]byte{'x'}, 1024)
			var want []byte
			for i := range 600 {
				off := int64(len(want))
				if name == "staged" && i > 0 && i%2 == 0 {
					off = int64(i) // random access: a staging file
				}
				if _, err := f.WriteAt(chunk, off); err != nil {
					t.Fatal(err)
				}
				if end := int(off) + len(chunk); end > len(want) {
					want = append(want, make([]byte, end-len(want))...)
				}
				copy(want[off:], chunk)
			}
			close(stop)
			waitList()
			waitStat()
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if got := mt.read("d/" + name); !bytes.Equal(got, want) {
				t.Fatalf("read back %d bytes, want %d as written", len(got), len(want))
			}
		})
	}
}

// TestRenameDirWhileStaged (issue 13.2): a directory rename points the
// files below it at their copies, rewriting a staging file's base (the
// object it modifies), while the file is written and synced through an
// open descriptor, which reads and rewrites that base under dataMu. Run
// under -race.
func TestRenameDirWhileStaged(t *testing.T) {
	st := backends[0].open(t)
	old := pattern(1, 600<<10)
	putObject(t, st, "v/a/f", old, nil)
	mt := mount(t, st, Options{Prefix: "v/"})
	f, err := os.OpenFile(mt.path("a/f"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("staged"), 100); err != nil { // a staging file
		t.Fatal(err)
	}
	want := append([]byte(nil), old...)
	copy(want[100:], "staged")

	stop := make(chan struct{})
	var syncErr error
	i := 0
	wait := untilDone(stop, func() {
		// Each sync stores a patch of the base and makes the new object
		// the base; each read of a fresh block fetches from the base.
		i++
		off := int64(i*4093) % int64(len(want))
		if _, err := f.WriteAt([]byte{byte(i)}, off); err != nil && syncErr == nil {
			syncErr = err
		}
		want[off] = byte(i)
		if err := f.Sync(); err != nil && syncErr == nil {
			syncErr = err
		}
	})
	dirs := []string{"a", "b"}
	for r := range 20 {
		from, to := dirs[r%2], dirs[(r+1)%2]
		if err := os.Rename(mt.path(from), mt.path(to)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wait()
	if syncErr != nil {
		t.Fatalf("write or fsync while the directory moved: %v", syncErr)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	mt.remount()
	if got := mt.read("a/f"); !bytes.Equal(got, want) {
		t.Fatalf("after the renames the file holds %d bytes, not what was written and synced", len(got))
	}
}

// TestRenameDirWhileReading (issue 13.2): reads of a big file being
// modified fetch the blocks they need from the staging file's base
// object (under dataMu) while renames of its directory point that base
// at the copies. The fetches are slowed so that renames happen while
// they are under way. Run under -race.
func TestRenameDirWhileReading(t *testing.T) {
	inner := backends[0].open(t)
	fst := faultstore.New(inner)
	data := pattern(2, 12<<20) // a patch at commit: most blocks stay unfetched
	putObject(t, inner, "v/a/f", data, nil)
	mt := mount(t, fst, Options{Prefix: "v/", PartSize: store.MinPartSize})
	f, err := os.OpenFile(mt.path("a/f"), os.O_RDWR|syscall.O_DIRECT, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("staged"), 0); err != nil {
		t.Fatal(err)
	}
	copy(data, "staged")
	fst.Add(faultstore.Rule{Op: faultstore.OpGet, Key: "v/*/f", Delay: 5 * time.Millisecond})
	readDone := make(chan error, 1)
	go func() {
		// Each read spans four blocks not fetched yet.
		buf := make([]byte, 1<<20)
		for off := int64(0); off < int64(len(data)); off += int64(len(buf)) {
			if _, err := f.ReadAt(buf, off); err != nil {
				readDone <- err
				return
			}
			if !bytes.Equal(buf, data[off:off+int64(len(buf))]) {
				readDone <- fmt.Errorf("bytes at %d differ from the file's", off)
				return
			}
		}
		readDone <- nil
	}()
	dirs := []string{"a", "b"}
	for r := 0; ; r++ {
		select {
		case err := <-readDone:
			if err != nil {
				t.Fatalf("reading while the directory moved: %v", err)
			}
			return
		default:
		}
		if err := os.Rename(mt.path(dirs[r%2]), mt.path(dirs[(r+1)%2])); err != nil {
			t.Fatal(err)
		}
	}
}
