package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/testenv"
	"github.com/s3vol/s3vol/observe"
)

// startServe runs `s3vol serve` with args until the test ends, and returns
// the plugin client and the base URL of its metrics listener.
func startServe(t *testing.T, args []string) (*pluginClient, string, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, args, logs, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve returned %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("serve did not stop within a minute")
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})
	var socket string
	for i, a := range args {
		if a == "--socket" {
			socket = args[i+1]
		}
	}
	c := newPluginClient(t, socket)
	listening := regexp.MustCompile(`serving the dashboard on http://([^/ ]+)/`)
	var base string
	waitUntil(t, 10*time.Second, "the socket and the metrics listener to answer", func() bool {
		if _, err := c.call("/Plugin.Activate", struct{}{}, nil); err != nil {
			return false
		}
		if m := listening.FindStringSubmatch(logs.String()); m != nil {
			base = "http://" + m[1]
		}
		return base != ""
	})
	return c, base, logs
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func healthz(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := httpClient.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func scrapeDaemon(t *testing.T, base string) observe.Samples {
	t.Helper()
	s, err := observe.Scrape(context.Background(), httpClient, base+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A daemon doing real work on the local store: its /metrics counters move
// with the work (store calls, FUSE requests of the mount), its gauges show
// the mount, the memory budget and the organization, and /healthz is 200.
func TestServeMetricsOfRealWork(t *testing.T) {
	testenv.NeedFUSE(t)
	dir := t.TempDir()
	socket := filepath.Join(dir, "s3vol.sock")
	c, base, _ := startServe(t, []string{"--socket", socket, "--state-dir", filepath.Join(dir, "state"),
		"--mount-root", filepath.Join(dir, "mounts"), "--mount-grace", "0", "--credentials-file", "",
		"--lease-ttl", "5s", "--memory", "64MiB", "--http-addr", "127.0.0.1:0"})

	waitUntil(t, 30*time.Second, "/healthz to answer 200", func() bool {
		code, _ := healthz(t, base)
		return code == http.StatusOK
	})
	before := scrapeDaemon(t, base)
	putsBefore, _ := before.Value("s3vol_s3_requests_total", "op", "put", "outcome", "ok")

	c.must("/VolumeDriver.Create", map[string]any{"Name": "metered"}, nil)
	var mount struct{ Mountpoint string }
	c.must("/VolumeDriver.Mount", map[string]string{"Name": "metered", "ID": "c1"}, &mount)
	const files = 5
	for i := range files {
		if err := os.WriteFile(filepath.Join(mount.Mountpoint, fmt.Sprintf("f%d", i)), []byte(strings.Repeat("x", 4096)), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Uploads may finish after close: wait for them to show.
	var s observe.Samples
	waitUntil(t, 30*time.Second, fmt.Sprintf("%d more successful puts", files), func() bool {
		s = scrapeDaemon(t, base)
		puts, _ := s.Value("s3vol_s3_requests_total", "op", "put", "outcome", "ok")
		return puts >= putsBefore+files
	})
	if sent, _ := s.Value("s3vol_s3_sent_bytes_total"); sent < files*4096 {
		t.Errorf("sent bytes %v, want at least %d", sent, files*4096)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"s3vol_mounted", []string{"volume", "metered"}, 1},
		{"s3vol_mount_uses", []string{"volume", "metered"}, 1},
		{"s3vol_memory_budget_bytes", nil, 64 << 20},
		{"s3vol_fuse_ops_total", []string{"op", "create", "volume", "metered"}, files},
		{"s3vol_fuse_written_bytes_total", []string{"volume", "metered"}, files * 4096},
	} {
		if got, ok := s.Value(c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	waitUntil(t, 30*time.Second, "the organization's count to show the volume", func() bool {
		used, _ := scrapeDaemon(t, base).Value("s3vol_org_volumes", "org", "default")
		return used == 1
	})
	if limit, ok := s.Value("s3vol_org_volume_limit", "org", "default"); !ok || limit < 1 {
		t.Errorf("org volume limit %v (present %v)", limit, ok)
	}
	// The lease of the mount is renewed every third of its 5 s TTL.
	waitUntil(t, 30*time.Second, "a lease heartbeat", func() bool {
		ok, _ := scrapeDaemon(t, base).Value("s3vol_lease_heartbeats_total", "outcome", "ok")
		return ok >= 1
	})

	c.must("/VolumeDriver.Unmount", map[string]string{"Name": "metered", "ID": "c1"}, nil)
	waitUntil(t, 30*time.Second, "the unmounted volume to leave the gauges", func() bool {
		_, mounted := scrapeDaemon(t, base).Value("s3vol_mounted", "volume", "metered")
		return !mounted
	})
	// A removed volume's series go: volume labels do not pile up.
	c.must("/VolumeDriver.Remove", map[string]string{"Name": "metered"}, nil)
	if _, ok := scrapeDaemon(t, base).Value("s3vol_fuse_ops_total", "volume", "metered"); ok {
		t.Error("the removed volume still has FUSE series")
	}
	if code, body := healthz(t, base); code != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz %d %q, want 200 ok", code, body)
	}
}

// With the store unreachable, /healthz says 503 and why, promptly.
func TestServeHealthWithTheStoreDown(t *testing.T) {
	testenv.NeedFUSE(t)
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte("access_key = k\nsecret_key = s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, base, _ := startServe(t, []string{"--socket", filepath.Join(dir, "s3vol.sock"), "--state-dir", filepath.Join(dir, "state"),
		"--mount-root", filepath.Join(dir, "mounts"), "--endpoint", "http://127.0.0.1:1",
		"--credentials-file", creds, "--http-addr", "127.0.0.1:0"})
	code, body := healthz(t, base)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "store: ") || !strings.Contains(body, "127.0.0.1:1") ||
		!strings.Contains(body, "registry: ") {
		t.Errorf("/healthz with the store down: %d %q; want 503 naming the store and the registry", code, body)
	}
}

// S3VOL_HTTP_ADDR is host:port or empty.
func TestHTTPAddrSetting(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"", "", ""}, {"127.0.0.1:9180", "127.0.0.1:9180", ""}, {":9180", ":9180", ""}, {"[::1]:9180", "[::1]:9180", ""},
		{"127.0.0.1", "", "not host:port"}, {"localhost:http", "", "use a number"}, {"1.2.3.4:70000", "", "use a number"},
	} {
		var cfg Config
		err := setHTTPAddr(&cfg, c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want one saying %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || cfg.HTTPAddr != c.want {
			t.Errorf("%q: %q, %v; want %q", c.in, cfg.HTTPAddr, err, c.want)
		}
	}
}

// A listener on an address other than loopback, with no dashboard token,
// is refused at start with a message saying what to do.
func TestNonLoopbackListenerNeedsAToken(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := run(ctx, []string{"serve", "--socket", filepath.Join(dir, "s3vol.sock"), "--state-dir", filepath.Join(dir, "state"),
		"--mount-root", filepath.Join(dir, "mounts"), "--credentials-file", "", "--http-addr", "0.0.0.0:0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") || !strings.Contains(err.Error(), "S3VOL_HTTP_TOKEN") {
		t.Fatalf("serve on 0.0.0.0 without a token: %v; want a refusal naming S3VOL_HTTP_TOKEN", err)
	}
}

func TestLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:9180": true, "[::1]:9180": true, "localhost:9180": true,
		":9180": false, "0.0.0.0:9180": false, "10.1.2.3:9180": false, "example.com:9180": false} {
		if got := loopbackAddr(addr); got != want {
			t.Errorf("loopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}

// Two volumes mounted, files written to one: the per-volume object-store
// counters show the puts and bytes under that volume, and nothing more
// under the other than its mount did.
func TestServeMetricsPerVolume(t *testing.T) {
	testenv.NeedFUSE(t)
	_, base, mountpoints := serveMounted(t, "hot", "idle")
	before := scrapeDaemon(t, base)
	idleBefore, _ := before.Value("s3vol_volume_s3_requests_total", "volume", "idle")

	const files, size = 6, 4096
	for i := range files {
		if err := os.WriteFile(filepath.Join(mountpoints["hot"], fmt.Sprintf("f%d", i)), []byte(strings.Repeat("x", size)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Uploads may finish after close: wait for them to show.
	var s observe.Samples
	waitUntil(t, 30*time.Second, fmt.Sprintf("%d puts under the volume hot", files), func() bool {
		s = scrapeDaemon(t, base)
		puts, _ := s.Value("s3vol_volume_s3_requests_total", "volume", "hot", "op", "put", "outcome", "ok")
		return puts >= files
	})
	if sent, _ := s.Value("s3vol_volume_s3_bytes_total", "volume", "hot", "direction", "sent"); sent < files*size {
		t.Errorf("bytes sent under hot %v, want at least %d", sent, files*size)
	}
	if puts, _ := s.Value("s3vol_volume_s3_requests_total", "volume", "idle", "op", "put"); puts != 0 {
		t.Errorf("%v puts under idle, which nothing wrote to", puts)
	}
	if idle, _ := s.Value("s3vol_volume_s3_requests_total", "volume", "idle"); idle != idleBefore {
		t.Errorf("requests under idle went from %v to %v while only hot was written", idleBefore, idle)
	}
	if sent, _ := s.Value("s3vol_volume_s3_bytes_total", "volume", "idle", "direction", "sent"); sent != 0 {
		t.Errorf("bytes sent under idle %v, want 0", sent)
	}
	// The daemon-wide counters count the same puts (and the registry's).
	hotPuts, _ := s.Value("s3vol_volume_s3_requests_total", "volume", "hot", "op", "put")
	if all, _ := s.Value("s3vol_s3_requests_total", "op", "put"); all < hotPuts {
		t.Errorf("daemon-wide puts %v, fewer than hot's %v", all, hotPuts)
	}
}

// Two volumes mounted, a file held open for writing on one: its buffered
// bytes show as memory in use under that volume, none under the idle
// one, and none once the file is closed.
func TestServeMemoryPerVolume(t *testing.T) {
	testenv.NeedFUSE(t)
	_, base, mountpoints := serveMounted(t, "writing", "idle")
	f, err := os.Create(filepath.Join(mountpoints["writing"], "open"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const size = 1 << 20
	if _, err := f.Write(make([]byte, size)); err != nil {
		t.Fatal(err)
	}
	var s observe.Samples
	waitUntil(t, 30*time.Second, "memory in use under the volume writing", func() bool {
		s = scrapeDaemon(t, base)
		held, _ := s.Value("s3vol_volume_memory_bytes", "volume", "writing")
		return held >= size
	})
	idle, ok := s.Value("s3vol_volume_memory_bytes", "volume", "idle")
	if !ok || idle != 0 {
		t.Errorf("memory under the idle volume: %v (exported: %v), want 0", idle, ok)
	}
	held, _ := s.Value("s3vol_volume_memory_bytes", "volume", "writing")
	// s3vol stats shows it in the volume's MEM column.
	view := statsView(s, s, time.Second, "test", time.Now())
	t.Logf("s3vol stats:\n%s", view)
	writing, idleRow := statsRow(view, "writing"), statsRow(view, "idle")
	if len(writing) != statsColumns || len(idleRow) != statsColumns {
		t.Fatalf("rows of writing %q and idle %q, want %d fields each", writing, idleRow, statsColumns)
	}
	if mem := writing[15] + " " + writing[16]; mem != ibytes(held) || mem == "0 B" {
		t.Errorf("writing's MEM %q, want %s", mem, ibytes(held))
	}
	if mem := idleRow[15] + " " + idleRow[16]; mem != "0 B" {
		t.Errorf("idle's MEM %q, want 0 B", mem)
	}
	if total, _ := s.Value("s3vol_memory_in_use_bytes"); total < held {
		t.Errorf("memory in use %v, less than the volume writing's %v", total, held)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 30*time.Second, "no memory in use under writing after the file is closed", func() bool {
		s = scrapeDaemon(t, base)
		held, ok := s.Value("s3vol_volume_memory_bytes", "volume", "writing")
		return ok && held == 0
	})
}

// serveMounted starts a daemon with metrics on (64 MiB of memory budget),
// creates the volumes and mounts each for one container; it returns the
// client, the metrics address and each volume's mountpoint. The volumes
// are unmounted when the test ends.
func serveMounted(t *testing.T, names ...string) (c *pluginClient, base string, mountpoints map[string]string) {
	t.Helper()
	dir := t.TempDir()
	c, base, _ = startServe(t, []string{"--socket", filepath.Join(dir, "s3vol.sock"), "--state-dir", filepath.Join(dir, "state"),
		"--mount-root", filepath.Join(dir, "mounts"), "--mount-grace", "0", "--credentials-file", "",
		"--memory", "64MiB", "--http-addr", "127.0.0.1:0"})
	mountpoints = map[string]string{}
	for _, name := range names {
		c.must("/VolumeDriver.Create", map[string]any{"Name": name}, nil)
		var mount struct{ Mountpoint string }
		c.must("/VolumeDriver.Mount", map[string]string{"Name": name, "ID": "c-" + name}, &mount)
		t.Cleanup(func() { c.must("/VolumeDriver.Unmount", map[string]string{"Name": name, "ID": "c-" + name}, nil) })
		mountpoints[name] = mount.Mountpoint
	}
	return c, base, mountpoints
}
