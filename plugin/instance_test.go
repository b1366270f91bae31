package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/testenv"
)

// A second daemon on the state folder of a running one would share its
// mount lease object (same host id, instance "serve") and drop the other's
// hold at its first release: it refuses to start, saying why, and the
// first keeps serving (issue 13, left over from 16).
func TestSecondDaemonOnOneStateFolderRefused(t *testing.T) {
	testenv.NeedFUSE(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	first, _, _ := startServe(t, []string{"--socket", filepath.Join(dir, "first.sock"), "--state-dir", state,
		"--mount-root", filepath.Join(dir, "mounts1"), "--http-addr", "127.0.0.1:0"})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, []string{"--socket", filepath.Join(dir, "second.sock"), "--state-dir", state,
			"--mount-root", filepath.Join(dir, "mounts2")}, &logs, &logs)
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "another s3vol daemon (process ") || !strings.Contains(err.Error(), "same state folder") {
			t.Fatalf("second daemon on one state folder: %v; want it refused, naming the running one", err)
		}
	case <-time.After(30 * time.Second):
		cancel()
		<-done
		t.Fatalf("a second daemon started on the state folder of a running one\n%s", logs.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "second.sock")); err == nil {
		t.Error("the refused daemon made its socket")
	}
	first.must("/Plugin.Activate", struct{}{}, nil)
}

// Two `s3vol mount` of one folder would share one lease object: the
// second refuses to start; once the first has stopped, a mount starts.
func TestSecondMountOnOneFolderRefused(t *testing.T) {
	testenv.NeedFUSE(t)
	dir := t.TempDir()
	t.Setenv("S3VOL_STATE_DIR", filepath.Join(dir, "state"))
	var out, errs syncBuffer
	ctx := context.Background()
	if err := run(ctx, []string{"volume", "create", "twice"}, &out, &errs); err != nil {
		t.Fatalf("volume create: %v\n%s", err, errs.String())
	}
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	mctx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- run(mctx, []string{"mount", "twice", mnt}, &out, &errs) }()
	waitUntil(t, 20*time.Second, "the first mount", func() bool { return isMounted(t, mnt) })

	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := run(sctx, []string{"mount", "twice", mnt}, &out, &errs)
	if err == nil || !strings.Contains(err.Error(), "another s3vol mount (process ") || !strings.Contains(err.Error(), "same folder") {
		t.Fatalf("second mount of one folder: %v; want it refused, naming the running one\n%s", err, errs.String())
	}
	if !isMounted(t, mnt) {
		t.Fatal("the first mount is gone")
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("first mount: %v", err)
	}
	// The lock went with the first: a new mount of the folder starts.
	mctx, stop = context.WithCancel(ctx)
	defer stop()
	go func() { done <- run(mctx, []string{"mount", "twice", mnt}, &out, &errs) }()
	waitUntil(t, 20*time.Second, "a mount after the first stopped", func() bool { return isMounted(t, mnt) })
	stop()
	if err := <-done; err != nil {
		t.Fatalf("mount after the first stopped: %v", err)
	}
}
