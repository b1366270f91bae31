package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/s3vol/s3vol/internal/testenv"
)

// s3vol stats against a real daemon while a file is written through a
// mount: each view lists the volume, with a write throughput above zero in
// at least one of them, and the daemon's object-store and memory lines.
func TestStatsShowsAWriteInProgress(t *testing.T) {
	testenv.NeedFUSE(t)
	dir := t.TempDir()
	c, base, _ := startServe(t, []string{"--socket", filepath.Join(dir, "s3vol.sock"), "--state-dir", filepath.Join(dir, "state"),
		"--mount-root", filepath.Join(dir, "mounts"), "--mount-grace", "0", "--credentials-file", "",
		"--memory", "64MiB", "--http-addr", "127.0.0.1:0"})
	c.must("/VolumeDriver.Create", map[string]any{"Name": "busy"}, nil)
	var mount struct{ Mountpoint string }
	c.must("/VolumeDriver.Mount", map[string]string{"Name": "busy", "ID": "c1"}, &mount)
	defer c.must("/VolumeDriver.Unmount", map[string]string{"Name": "busy", "ID": "c1"}, nil)

	// A writer keeps writing until stats is done.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f, err := os.Create(filepath.Join(mount.Mountpoint, "big"))
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		chunk := make([]byte, 256<<10)
		for ctx.Err() == nil {
			if _, err := f.Write(chunk); err != nil {
				t.Error(err)
				return
			}
		}
	}()

	var out, errOut bytes.Buffer
	addr := strings.TrimPrefix(base, "http://")
	err := run(context.Background(), []string{"stats", "--addr", addr, "--interval", "300ms", "--count", "3"}, &out, &errOut)
	stop()
	wg.Wait()
	if err != nil {
		t.Fatalf("s3vol stats: %v\n%s", err, errOut.String())
	}
	t.Logf("s3vol stats:\n%s", out.String())
	views := strings.Split(out.String(), "s3vol stats  ")
	if len(views) != 4 { // text before the first, then 3 views
		t.Fatalf("%d views, want 3", len(views)-1)
	}
	row := regexp.MustCompile(`(?m)^\s*busy\s+\d+\s+\S+ \S+/s\s+(\d+)\s+(\S+) (\S+)/s`)
	wrote := false
	for _, v := range views[1:] {
		m := row.FindStringSubmatch(v)
		if m == nil || !strings.Contains(v, "object store") || !strings.Contains(v, "of 64 MiB in use") {
			t.Fatalf("a view lacks the volume's row, the store line or the memory line:\n%s", v)
		}
		if n, _ := strconv.ParseFloat(m[2], 64); n > 0 && m[1] != "0" {
			wrote = true
		}
	}
	if !wrote {
		t.Errorf("no view shows writes to busy, although a writer ran throughout:\n%s", out.String())
	}
}

func TestStatsRefusesBadFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"stats", "--interval", "1ms"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "100ms or more") {
		t.Fatalf("stats --interval 1ms: %v", err)
	}
	err := run(context.Background(), []string{"stats", "--addr", "127.0.0.1:1", "--count", "1"}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "S3VOL_HTTP_ADDR") {
		t.Fatalf("stats against nothing: %v; want a message naming S3VOL_HTTP_ADDR", err)
	}
}
