package observe

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/internal/testenv"
	"github.com/s3vol/s3vol/s3fs"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
)

// mountMetered mounts st's "vol/" prefix with its FUSE requests counted as
// volume "vol"; it is unmounted with the test.
func mountMetered(t *testing.T, m *Metrics, faults *faultstore.Store) string {
	t.Helper()
	dir := t.TempDir()
	mnt, err := s3fs.Mount(dir, s3fs.Options{Store: m.Store(faults), Prefix: "vol/", CacheDir: t.TempDir(),
		Logger: logrus.New(), WrapFS: m.FUSE("vol")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := mnt.Unmount(ctx); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	return dir
}

// A known workload through a mount shows in the FUSE metrics: files
// created, bytes written and read, a failed unlink as an error; and the
// file names never become labels.
func TestFUSEOpsAreCounted(t *testing.T) {
	testenv.NeedFUSE(t)
	m := New()
	faults := faultstore.New(newLocal(t))
	dir := mountMetered(t, m, faults)
	base := serve(t, m, NewHealth())

	const files, size = 1000, 100
	data := make([]byte, size)
	for i := range files {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%04d", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A file stored by another writer is not in the kernel's page cache:
	// reading it goes through the filesystem.
	const direct = 5000
	if _, err := faults.Put(context.Background(), "vol/direct", bytes.NewReader(make([]byte, direct)), direct, store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "direct")); err != nil || len(b) != direct {
		t.Fatalf("read of a file stored directly: %d bytes, %v", len(b), err)
	}
	const reads = 3
	for i := range reads {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("f%04d", i)))
		if err != nil || len(b) != size {
			t.Fatalf("read back: %d bytes, %v", len(b), err)
		}
	}
	faults.Add(faultstore.Rule{Op: faultstore.OpDelete, Times: 1})
	if err := os.Remove(filepath.Join(dir, "f0000")); err == nil {
		t.Fatal("unlink succeeded with the store failing its delete")
	}

	s := scrape(t, base)
	if got := value(t, s, "s3vol_fuse_ops_total", "op", "create", "volume", "vol"); got != files {
		t.Errorf("creates = %v, want %d", got, files)
	}
	if got := value(t, s, "s3vol_fuse_written_bytes_total", "volume", "vol"); got != files*size {
		t.Errorf("written bytes = %v, want %d", got, files*size)
	}
	// Files just written may be read from the kernel's page cache.
	if got := value(t, s, "s3vol_fuse_read_bytes_total", "volume", "vol"); got < direct || got > direct+reads*size {
		t.Errorf("read bytes = %v, want %d to %d", got, direct, direct+reads*size)
	}
	if got := value(t, s, "s3vol_fuse_errors_total", "op", "unlink", "volume", "vol"); got != 1 {
		t.Errorf("unlink errors = %v, want 1", got)
	}
	if got := value(t, s, "s3vol_fuse_op_duration_seconds", "op", "write", "volume", "vol"); got < files {
		t.Errorf("write latency observations = %v, want at least %d", got, files)
	}
	m.Forget("other") // another volume's removal leaves this one's series
	if _, ok := scrape(t, base).Value("s3vol_fuse_ops_total", "volume", "vol"); !ok {
		t.Error("forgetting another volume dropped this one's series")
	}
	// Series are per operation, never per file: far fewer than the files.
	for _, name := range []string{"s3vol_fuse_ops_total", "s3vol_fuse_op_duration_seconds", "s3vol_s3_requests_total"} {
		if n := s.Series(name); n == 0 || n > 40 {
			t.Errorf("%s has %d series after %d files; want a few per operation", name, n, files)
		}
	}
	m.Forget("vol")
	s = scrape(t, base)
	for _, name := range []string{"s3vol_fuse_ops_total", "s3vol_fuse_errors_total", "s3vol_fuse_op_duration_seconds", "s3vol_fuse_read_bytes_total", "s3vol_fuse_written_bytes_total"} {
		if _, ok := s.Value(name, "volume", "vol"); ok {
			t.Errorf("%s keeps the forgotten volume's series", name)
		}
	}
}
