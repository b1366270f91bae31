package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/testenv"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/localstore"
)

func isMounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), " "+dir+" ")
}

// s3vol mount: a volume's subpath mounted without Docker, holding a lease
// (the volume cannot be deleted meanwhile), flushed and unmounted on
// SIGINT/SIGTERM (here: the context's end, which is what the signals do).
func TestMountCommand(t *testing.T) {
	testenv.NeedFUSE(t)
	dir := t.TempDir()
	t.Setenv("S3VOL_STATE_DIR", filepath.Join(dir, "state"))
	t.Setenv("S3VOL_LOG_LEVEL", "debug")
	var out, errs syncBuffer
	ctx := context.Background()
	if err := run(ctx, []string{"volume", "create", "docs-vol"}, &out, &errs); err != nil {
		t.Fatalf("volume create: %v\n%s", err, errs.String())
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	mctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- run(mctx, []string{"mount", "--subpath", "team/docs", "docs-vol", mnt}, &out, &errs) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", errs.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for !isMounted(t, mnt) {
		select {
		case err := <-done:
			t.Fatalf("s3vol mount exited: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("s3vol mount did not mount within 20 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := os.WriteFile(filepath.Join(mnt, "readme.txt"), []byte("mounted without docker\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The lease blocks deletion while mounted.
	var rmOut bytes.Buffer
	err := run(ctx, []string{"volume", "rm", "docs-vol"}, &rmOut, &errs)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("volume rm while mounted: %v", err)
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("s3vol mount returned %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("s3vol mount did not stop")
	}
	if isMounted(t, mnt) {
		t.Fatal("still mounted after the signal")
	}
	// The file is in the store, under the subpath.
	if keys := localKeys(t, filepath.Join(dir, "state", "store", "s3vol")); !anySuffix(keys, "/team/docs/readme.txt") {
		t.Fatalf("the local store holds %v, want readme.txt under team/docs", keys)
	}
	// Released: the volume can be deleted now.
	if err := run(ctx, []string{"volume", "rm", "docs-vol"}, &rmOut, &errs); err != nil {
		t.Fatalf("volume rm after unmount: %v", err)
	}
}

func TestMountUsage(t *testing.T) {
	var out, errs bytes.Buffer
	err := run(context.Background(), []string{"mount", "only-a-volume"}, &out, &errs)
	if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "VOLUME DIR") {
		t.Fatalf("mount with one argument: %v", err)
	}
	err = run(context.Background(), []string{"mount", "--subpath", "../x", "v", "/tmp"}, &out, &errs)
	if err == nil || !strings.Contains(err.Error(), "..") {
		t.Fatalf("mount with a subpath escaping the volume: %v", err)
	}
	if err := run(context.Background(), []string{"frob"}, &out, &errs); err == nil || exitCode(err) != 2 {
		t.Fatalf("unknown command: %v", err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"version"}, &out, &errs); err != nil || !strings.HasPrefix(out.String(), "s3vol ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
}

// localKeys lists every key of the local store in dir.
func localKeys(t *testing.T, dir string) []string {
	t.Helper()
	st, err := localstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var keys []string
	for obj, err := range st.List(context.Background(), store.ListOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, obj.Key)
	}
	return keys
}

func anySuffix(keys []string, suffix string) bool {
	for _, k := range keys {
		if strings.HasSuffix(k, suffix) {
			return true
		}
	}
	return false
}

// s3vol mount --ro, and a volume created read-only, refuse writes with
// EROFS: the read-only setting must reach the filesystem.
func TestMountReadOnly(t *testing.T) {
	testenv.NeedFUSE(t)
	dir := t.TempDir()
	t.Setenv("S3VOL_STATE_DIR", filepath.Join(dir, "state"))
	var out, errs syncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", errs.String())
		}
	})
	ctx := context.Background()
	for _, args := range [][]string{{"volume", "create", "rw-vol"}, {"volume", "create", "-o", "ro=true", "ro-vol"}} {
		if err := run(ctx, args, &out, &errs); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	for _, c := range []struct {
		volume string
		flags  []string
	}{
		{"rw-vol", []string{"--ro"}},
		{"ro-vol", nil},
	} {
		mnt := filepath.Join(dir, "mnt-"+c.volume)
		stop := startMount(t, c.volume, mnt, &out, &errs, c.flags...)
		err := os.WriteFile(filepath.Join(mnt, "f"), []byte("x"), 0o644)
		stop()
		if !errors.Is(err, syscall.EROFS) {
			t.Errorf("writing to %s mounted with %v: %v, want EROFS", c.volume, c.flags, err)
		}
	}
}
