package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/internal/testenv"
)

// The test binary doubles as s3vol for tests that need a process they can
// kill: run with S3VOL_TEST_RUN_MAIN=1 it is the s3vol command.
func init() {
	if os.Getenv("S3VOL_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
}

// startS3vol runs `s3vol args...` as a child process (the test binary as
// s3vol) with the test's environment; it is killed when the test ends.
func startS3vol(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "S3VOL_TEST_RUN_MAIN=1")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting s3vol %v: %v", args, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("s3vol %v log:\n%s", args, logs.String())
		}
	})
	return cmd
}

// privateMinio starts a MinIO of the test's own (the plugin tests have no
// shared one) and returns it with a fresh bucket.
func privateMinio(t *testing.T) (*miniotest.Server, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute) // a first build included
	defer cancel()
	srv, err := miniotest.Start(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("starting MinIO: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, srv.NewBucket(t)
}

// useMinio points the s3vol commands of the test (in-process and child
// processes alike, through the environment) at bucket on srv.
func useMinio(t *testing.T, srv *miniotest.Server, bucket, stateDir string) {
	t.Helper()
	creds := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(creds, []byte("access_key = "+srv.AccessKey+"\nsecret_key = "+srv.SecretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"S3VOL_ENDPOINT": srv.URL(), "S3VOL_REGION": srv.Region, "S3VOL_BUCKET": bucket,
		"S3VOL_PATH_STYLE": "path", "S3VOL_CREDENTIALS_FILE": creds,
		"S3VOL_STATE_DIR": stateDir, "S3VOL_LOG_LEVEL": "debug",
	} {
		t.Setenv(k, v)
	}
}

// pendingUploads lists the keys of the bucket's unfinished multipart uploads.
func pendingUploads(t *testing.T, srv *miniotest.Server, bucket string) []string {
	t.Helper()
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var keys []string
	for up := range c.ListIncompleteUploads(ctx, bucket, "", true) {
		if up.Err != nil {
			t.Fatalf("listing unfinished uploads: %v", up.Err)
		}
		keys = append(keys, up.Key)
	}
	return keys
}

// waitUntil polls cond until it holds, failing t with what after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A process of this host that dies in the middle of a big write leaves a
// multipart upload; the next start of the daemon aborts it at once, not a
// day later (issue 13.12).
func TestLostUploadAbortedAtRestart(t *testing.T) {
	testenv.NeedFUSE(t)
	srv, bucket := privateMinio(t)
	dir := t.TempDir()
	useMinio(t, srv, bucket, filepath.Join(dir, "state"))
	var out, errs syncBuffer
	if err := run(context.Background(), []string{"volume", "create", "big-vol"}, &out, &errs); err != nil {
		t.Fatalf("volume create: %v\n%s", err, errs.String())
	}

	// A mount process writes a file bigger than a part (its upload
	// starts) and is killed before it closes it.
	mnt := filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	mounter := startS3vol(t, "mount", "big-vol", mnt)
	waitUntil(t, 30*time.Second, "s3vol mount mounting", func() bool { return isMounted(t, mnt) })
	f, err := os.Create(filepath.Join(mnt, "big"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1<<20)
	for range 9 { // past the 8 MiB part
		if _, err := f.Write(chunk); err != nil {
			t.Fatalf("writing through the mount: %v", err)
		}
	}
	waitUntil(t, 30*time.Second, "the upload of the big file starting", func() bool {
		return len(pendingUploads(t, srv, bucket)) == 1
	})
	mounter.Process.Signal(syscall.SIGKILL)
	mounter.Wait()
	f.Close() // fails: the filesystem's server is gone
	if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
		t.Fatalf("detaching the dead mount: %v", err)
	}
	if ups := pendingUploads(t, srv, bucket); len(ups) != 1 {
		t.Fatalf("after the crash %d uploads are unfinished (%v), want the lost one", len(ups), ups)
	}

	// The daemon starts: the lost upload goes.
	socket := filepath.Join(dir, "s3vol.sock")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runServe(ctx, []string{"--socket", socket, "--mount-root", filepath.Join(dir, "mounts")}, &logs, &logs)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	waitUntil(t, 60*time.Second, "the restarted daemon aborting the lost upload", func() bool {
		return len(pendingUploads(t, srv, bucket)) == 0
	})
	if !strings.Contains(logs.String(), "aborted an upload lost by a process that died") {
		t.Errorf("the daemon's log does not say it aborted the lost upload")
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop within a minute")
	}
}
