package s3fs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/internal/testenv"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
	"github.com/s3vol/s3vol/store/localstore"
	"github.com/s3vol/s3vol/store/s3store"
)

// TestHungStoreBoundsSyscalls pauses MinIO (SIGSTOP: connections stay open,
// nothing answers) and checks that every system call that needs the store
// fails with EIO within its bound, even though the store's own request
// timeout is far longer; then that the mount works again once the store
// answers. Each FUSE request ends within Options.OpTimeout, and a system
// call costs the kernel up to three (a revalidation, a lookup, the call);
// the deadline of each call is that bound plus slack: this checks that
// calls end, not how fast (today's code blocks each for minutes).
func TestHungStoreBoundsSyscalls(t *testing.T) {
	testenv.NeedFUSE(t)
	if os.Getenv("S3VOL_TEST_ENDPOINT") != "" {
		t.Skip("needs a MinIO the test can pause (S3VOL_TEST_ENDPOINT points at an external one)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := miniotest.Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	st, err := s3store.New(ctx, s3store.Config{
		Endpoint: srv.URL(), Bucket: srv.NewBucket(t), Region: srv.Region,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		RequestTimeout: 5 * time.Minute, // far past the bound: the filesystem must bound its calls itself
	})
	if err != nil {
		t.Fatal(err)
	}
	checkHungStoreBounds(t, st, func() error { return srv.Pause() }, func() error { return srv.Resume() })
}

// TestHungFaultStoreBoundsSyscalls does the same with every call of the
// local store hanging in the fault store until its context ends: the only
// bound is the filesystem's own.
func TestHungFaultStoreBoundsSyscalls(t *testing.T) {
	local, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	st := faultstore.New(local)
	checkHungStoreBounds(t, st,
		func() error { st.Add(faultstore.Rule{Hang: true}); return nil },
		func() error { st.Clear(); return nil })
}

// checkHungStoreBounds mounts st, makes it hang with hang, checks that each
// system call fails with EIO within its bound, then undoes the hang with
// resume and checks that the mount works again.
func checkHungStoreBounds(t *testing.T, st store.Store, hang, resume func() error) {
	const bound = 2 * time.Second
	mt := mount(t, st, Options{Prefix: "v/", OpTimeout: bound, MetadataTTL: time.Nanosecond})

	mt.write("existing", pattern(1, 3<<20))
	mt.write("victim", []byte("unlink me"))
	if err := os.Mkdir(mt.path("dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	mt.write("dir/f", []byte("in dir"))
	reader, err := os.Open(mt.path("existing"))
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	writer, err := os.Create(mt.path("held"))
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	if _, err := writer.Write([]byte("pending")); err != nil {
		t.Fatal(err)
	}

	// A listing still being fetched when the store stops could answer
	// the first lookups: let it land first.
	mt.m.fsys.background.Wait()
	if err := hang(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	undo := func() {
		if !resumed {
			resumed = true
			if err := resume(); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer undo()

	calls := []struct {
		name string
		call func() error
	}{
		{"stat of a new name", func() error { _, err := os.Stat(mt.path("new-name")); return err }},
		{"stat of a file", func() error { _, err := os.Stat(mt.path("existing")); return err }},
		{"open", func() error {
			f, err := os.Open(mt.path("dir/f"))
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"read", func() error { _, err := reader.ReadAt(make([]byte, 4096), 2<<20); return err }},
		{"readdir", func() error { _, err := os.ReadDir(mt.path("dir")); return err }},
		{"create", func() error {
			f, err := os.Create(mt.path("created"))
			if err == nil {
				f.Close()
			}
			return err
		}},
		{"mkdir", func() error { return os.Mkdir(mt.path("newdir"), 0o755) }},
		{"unlink", func() error { return os.Remove(mt.path("victim")) }},
		{"rename", func() error { return os.Rename(mt.path("dir/f"), mt.path("dir/g")) }},
		{"chmod", func() error { return os.Chmod(mt.path("existing"), 0o600) }},
		{"write then fsync", func() error {
			if _, err := writer.Write([]byte(" more")); err != nil {
				return err
			}
			return writer.Sync()
		}},
		{"close", func() error { return writer.Close() }},
	}
	limit := 3*bound + 10*time.Second
	for _, c := range calls {
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- c.call() }()
		select {
		case err := <-done:
			t.Logf("%s: %v after %v", c.name, err, time.Since(start).Round(time.Millisecond))
			if !errors.Is(err, syscall.EIO) {
				t.Errorf("%s with the store hung: %v after %v, want EIO", c.name, err, time.Since(start).Round(time.Millisecond))
			}
		case <-time.After(limit):
			t.Errorf("%s with the store hung: still blocked after %v (bound %v)", c.name, limit, bound)
		}
	}

	undo()
	check := func() error {
		if _, err := os.Stat(mt.path("existing")); err != nil {
			return err
		}
		if err := os.WriteFile(mt.path("after"), []byte("back"), 0o644); err != nil {
			return err
		}
		if got, err := os.ReadFile(mt.path("after")); err != nil || string(got) != "back" {
			return fmt.Errorf("read back %q, %v", got, err)
		}
		return nil
	}
	if err := check(); err != nil {
		t.Fatalf("the mount after the store came back: %v", err)
	}
}

// TestSlowBulkDeleteIsNotHung checks that a bulk delete the store works
// through slowly (one request for up to 1000 keys, answered only once all
// are gone) is given time for its keys, not only the no-progress bound: a
// loaded MinIO took more than 10 s for one batch of a directory rename.
func TestSlowBulkDeleteIsNotHung(t *testing.T) {
	local, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	keys := make([]string, 1200)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%04d", i)
	}
	const timeout = 100 * time.Millisecond
	st := faultstore.New(local)
	// Each batch takes five times the no-progress bound: far less than the
	// time its 1000 keys are allowed at the slowest delete rate waited for.
	st.Add(faultstore.Rule{Op: faultstore.OpDeleteMany, Delay: 5 * timeout})
	b := &boundedStore{Store: st, timeout: timeout}
	if err := b.DeleteMany(context.Background(), keys); err != nil {
		t.Fatalf("a slow bulk delete of %d keys: %v", len(keys), err)
	}
}
