package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/testenv"
	"github.com/s3vol/s3vol/observe"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
	"github.com/s3vol/s3vol/store/localstore"
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
	for _, v := range views[1:] {
		if !strings.Contains(v, "S3 REQ/s") || !strings.Contains(v, "S3 ERR/s") || len(statsRow(v, "busy")) != statsColumns {
			t.Fatalf("a view lacks the per-volume object-store columns:\n%s", v)
		}
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

// statsColumns is the number of fields of a volume's row in the stats
// view: the name, reads/s, read (2), writes/s, written (2), ops/s,
// errors/s, S3 requests/s, S3 errors/s, S3 sent (2), S3 received (2),
// memory (2), uses.
const statsColumns = 18

// statsRow is the row of volume in a stats view, split at blanks; nil if
// it has none.
func statsRow(view, volume string) []string {
	for _, line := range strings.Split(view, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == volume {
			return f
		}
	}
	return nil
}

// The stats view between two scrapes of a daemon with two volumes mounted,
// N files written to one in between: that volume's row shows N object-store
// requests or more per second (the interval is taken as 1 s) and the bytes
// sent; the other's shows none.
func TestStatsShowsEachVolumesObjectStoreRequests(t *testing.T) {
	testenv.NeedFUSE(t)
	_, base, mountpoints := serveMounted(t, "hot", "idle")
	prev := scrapeDaemon(t, base)
	const files, size = 8, 64 << 10
	for i := range files {
		if err := os.WriteFile(filepath.Join(mountpoints["hot"], strconv.Itoa(i)), bytes.Repeat([]byte("x"), size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var cur observe.Samples
	waitUntil(t, 30*time.Second, "the puts to show under hot", func() bool {
		cur = scrapeDaemon(t, base)
		puts, _ := cur.Value("s3vol_volume_s3_requests_total", "volume", "hot", "op", "put", "outcome", "ok")
		return puts >= files
	})

	view := statsView(prev, cur, time.Second, "test", time.Now())
	t.Logf("s3vol stats:\n%s", view)
	hot, idle := statsRow(view, "hot"), statsRow(view, "idle")
	if len(hot) != statsColumns || len(idle) != statsColumns {
		t.Fatalf("rows of hot %q and idle %q, want %d fields each", hot, idle, statsColumns)
	}
	if req, _ := strconv.Atoi(hot[9]); req < files {
		t.Errorf("hot's S3 REQ/s %q, want %d or more", hot[9], files)
	}
	if sent := hot[11] + " " + hot[12]; sent == "0 B/s" {
		t.Errorf("hot's S3 SENT %q, after %d bytes written", sent, files*size)
	}
	if idle[9] != "0" || idle[10] != "0" || idle[11]+" "+idle[12] != "0 B/s" {
		t.Errorf("idle's object-store columns %q, want 0 0 0 B/s: nothing used it", idle[9:13])
	}
	if hot[10] != "0" {
		t.Errorf("hot's S3 ERR/s %q, want 0", hot[10])
	}
}

// A volume's failed object-store calls show in its S3 ERR/s column; a
// missing key is an answer, not an error.
func TestStatsShowsAVolumesObjectStoreErrors(t *testing.T) {
	m := observe.New()
	local, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	faults := faultstore.New(local)
	st := m.VolumeStore("flaky")(m.Store(faults))
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	scrape := func() observe.Samples {
		s, err := observe.Scrape(context.Background(), srv.Client(), srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx := context.Background()
	if _, err := st.Stat(ctx, "missing"); !errors.Is(err, store.ErrNotFound) { // the series start
		t.Fatalf("stat of a missing key: %v", err)
	}
	prev := scrape()
	const failed = 3
	faults.Add(faultstore.Rule{Op: faultstore.OpPut, Times: failed, Err: store.ErrUnavailable})
	for range failed {
		if _, err := st.Put(ctx, "k", strings.NewReader("x"), 1, store.PutOptions{}); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("put with a fault: %v", err)
		}
	}
	for range 2 {
		if _, err := st.Stat(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("stat of a missing key: %v", err)
		}
	}
	if _, err := st.Put(ctx, "k", strings.NewReader("x"), 1, store.PutOptions{}); err != nil {
		t.Fatal(err)
	}

	view := statsView(prev, scrape(), time.Second, "test", time.Now())
	t.Logf("s3vol stats:\n%s", view)
	row := statsRow(view, "flaky")
	if len(row) != statsColumns {
		t.Fatalf("row of flaky %q, want %d fields", row, statsColumns)
	}
	if want := strconv.Itoa(failed + 3); row[9] != want || row[10] != strconv.Itoa(failed) {
		t.Errorf("flaky's S3 REQ/s, S3 ERR/s = %s, %s; want %s, %d", row[9], row[10], want, failed)
	}
	if !strings.Contains(view, fmt.Sprintf("%d errors/s", failed)) {
		t.Errorf("the daemon's object-store line does not show %d errors/s", failed)
	}
}
