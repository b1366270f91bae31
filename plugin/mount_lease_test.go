package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/testenv"
)

// Issue 13.16: two `s3vol mount` of one volume on one host (same host id);
// when one stops, the other's mount must still hold the volume: `volume
// inspect` shows it mounted and `volume rm` is refused.
func TestTwoMountsOfOneHostKeepTheLease(t *testing.T) {
	testenv.NeedFUSE(t)
	dir := t.TempDir()
	t.Setenv("S3VOL_STATE_DIR", filepath.Join(dir, "state"))
	var out, errs syncBuffer
	ctx := context.Background()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", errs.String())
		}
	})
	if err := run(ctx, []string{"volume", "create", "shared"}, &out, &errs); err != nil {
		t.Fatalf("volume create: %v", err)
	}
	stopFirst := startMount(t, "shared", filepath.Join(dir, "m1"), &out, &errs)
	stopSecond := startMount(t, "shared", filepath.Join(dir, "m2"), &out, &errs)
	defer stopSecond()
	stopFirst()

	var inspect bytes.Buffer
	if err := run(ctx, []string{"volume", "inspect", "shared"}, &inspect, &errs); err != nil {
		t.Fatalf("volume inspect: %v", err)
	}
	if line := mountedOnLine(inspect.String()); !strings.Contains(line, "1 mount(s)") {
		t.Fatalf("with one of two mounts left, inspect says %q\n%s", line, inspect.String())
	}
	err := run(ctx, []string{"volume", "rm", "shared"}, &out, &errs)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("volume rm while the second mount holds it: %v", err)
	}
}

// startMount runs `s3vol mount [flags] name dir` until the returned stop is
// called.
func startMount(t *testing.T, name, dir string, out, errs *syncBuffer, flags ...string) (stop func()) {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	args := append(append([]string{"mount"}, flags...), name, dir)
	go func() { done <- run(ctx, args, out, errs) }()
	deadline := time.Now().Add(20 * time.Second)
	for !isMounted(t, dir) {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("s3vol mount %s exited: %v", dir, err)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("s3vol mount did not mount %s within 20 s", dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopped := false
	return func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("s3vol mount %s returned %v", dir, err)
			}
		case <-time.After(time.Minute):
			t.Errorf("s3vol mount %s did not stop", dir)
		}
	}
}

func mountedOnLine(inspect string) string {
	for _, line := range strings.Split(inspect, "\n") {
		if strings.HasPrefix(line, "Mounted on:") {
			return line
		}
	}
	return ""
}
