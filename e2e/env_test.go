package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/dockertest"
	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/internal/testenv"
)

// env is one test's world: the Docker engine, MinIO and a fresh bucket that
// the test's plugin daemons ("hosts") share.
type env struct {
	d      *dockertest.Docker
	srv    *miniotest.Server
	bucket string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	testenv.NeedFUSE(t)
	d := dockertest.Shared(t)
	srv := miniotest.Shared(t)
	return &env{d: d, srv: srv, bucket: srv.NewBucket(t)}
}

// hostSeq numbers the plugin daemons of this test process, for unique
// driver names.
var hostSeq atomic.Int64

// host is one s3vol daemon serving as a legacy plugin: dockerd finds it as
// the driver named Driver through /run/docker/plugins/<Driver>.sock, in the
// test binary's private mount namespace (dockertest.Isolate).
type host struct {
	e         *env
	Driver    string // the volume driver name: docker volume create -d <Driver>
	ID        string // S3VOL_HOST_ID
	socket    string
	dir       string // state, mounts, log
	mountRoot string
	logPath   string
	env       []string

	cmd    *exec.Cmd
	exited chan struct{}
	binary string // the s3vol binary it runs, if not the test's
}

// startHost starts an s3vol daemon on the env's bucket. extra overrides
// S3VOL_* settings. The host is stopped, and every container and volume of
// its driver removed, when the test ends.
func (e *env) startHost(t *testing.T, id string, extra ...string) *host {
	t.Helper()
	driver := fmt.Sprintf("s3vol-e2e-%d-%d", os.Getpid(), hostSeq.Add(1))
	dir, err := os.MkdirTemp("", driver+"-")
	if err != nil {
		t.Fatal(err)
	}
	h := &host{
		e: e, Driver: driver, ID: id, dir: dir,
		socket:    filepath.Join(dockertest.LegacyPluginDir, driver+".sock"),
		mountRoot: filepath.Join(dir, "mounts"),
		logPath:   filepath.Join(dir, "s3vol.log"),
	}
	creds := filepath.Join(dir, "credentials")
	body := fmt.Sprintf("# test credentials\naccess_key = %s\nsecret_key = %s\n", e.srv.AccessKey, e.srv.SecretKey)
	if err := os.WriteFile(creds, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	scheme := "http://"
	if e.srv.Secure {
		scheme = "https://"
	}
	h.env = append(cleanEnv(),
		"S3VOL_ENDPOINT="+scheme+e.srv.Endpoint,
		"S3VOL_REGION="+e.srv.Region,
		"S3VOL_BUCKET="+e.bucket,
		"S3VOL_CREDENTIALS_FILE="+creds,
		"S3VOL_HOST_ID="+id,
		"S3VOL_SOCKET="+h.socket,
		"S3VOL_MOUNT_ROOT="+h.mountRoot,
		"S3VOL_STATE_DIR="+filepath.Join(dir, "state"),
		"S3VOL_MEMORY=64MiB",
		"S3VOL_MOUNT_GRACE=300ms",
		"S3VOL_LEASE_TTL=30s",
		"S3VOL_LOG_LEVEL=debug",
	)
	h.env = append(h.env, extra...)
	t.Cleanup(func() { h.cleanup(t) })
	h.start(t)
	return h
}

// cleanEnv is the test's environment without S3VOL_* and AWS/MinIO
// credentials, so the daemon sees only what a test gives it.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "S3VOL_") || strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "MINIO_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// start runs `s3vol serve` and waits until it answers List (which needs the
// store), failing the test after 30 s.
func (h *host) start(t *testing.T) {
	t.Helper()
	h.launch(t)
	if err := h.waitReady(30 * time.Second); err != nil {
		t.Fatalf("host %s: %v\nlog:\n%s", h.ID, err, h.logTail(60))
	}
}

// launch starts `s3vol serve` with its output appended to the host's log.
func (h *host) launch(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(h.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "----- s3vol serve started by the test at %s\n", time.Now().Format(time.RFC3339Nano))
	bin := binary
	if h.binary != "" {
		bin = h.binary
	}
	h.cmd = exec.Command(bin, "serve")
	h.cmd.Env = h.env
	h.cmd.Stdout, h.cmd.Stderr = logf, logf
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("starting s3vol serve: %v", err)
	}
	exited := make(chan struct{})
	h.exited = exited
	cmd := h.cmd
	go func() { cmd.Wait(); close(exited) }()
}

// waitReady polls the plugin socket: Activate must answer within 10 s of
// start (dockerd's limit), List once the store is reached.
func (h *host) waitReady(timeout time.Duration) error {
	start := time.Now()
	activated := false
	for time.Since(start) < timeout {
		select {
		case <-h.exited:
			return fmt.Errorf("s3vol serve exited during start-up: %v", h.cmd.ProcessState)
		default:
		}
		if !activated {
			if status, _, err := h.call("/Plugin.Activate", ""); err == nil && status == http.StatusOK {
				activated = true
				if d := time.Since(start); d > 10*time.Second {
					return fmt.Errorf("the plugin socket answered only after %v; dockerd gives up after about 10 s", d)
				}
			}
		}
		if activated {
			if status, _, err := h.call("/VolumeDriver.List", "{}"); err == nil && status == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("s3vol serve did not answer on %s within %v", h.socket, timeout)
}

// call POSTs body to the plugin socket, as dockerd does.
func (h *host) call(path, body string) (int, string, error) {
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", h.socket)
		}},
	}
	defer client.CloseIdleConnections()
	resp, err := client.Post("http://plugin"+path, "application/vnd.docker.plugins.v1.1+json", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// stop sends SIGTERM and waits for a clean exit.
func (h *host) stop(t *testing.T) {
	t.Helper()
	if h.cmd == nil || h.cmd.Process == nil {
		return
	}
	select {
	case <-h.exited:
		return
	default:
	}
	h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.exited:
		if !h.cmd.ProcessState.Success() {
			t.Errorf("host %s: s3vol serve exited with %v after SIGTERM\nlog:\n%s", h.ID, h.cmd.ProcessState, h.logTail(40))
		}
	case <-time.After(90 * time.Second):
		h.cmd.Process.Kill()
		<-h.exited
		t.Errorf("host %s: s3vol serve did not exit within 90 s of SIGTERM; killed", h.ID)
	}
}

// kill ends the daemon with SIGKILL, as a crash would.
func (h *host) kill(t *testing.T) {
	t.Helper()
	h.cmd.Process.Kill()
	<-h.exited
}

// cleanup removes the containers and volumes of the host's driver (so
// dockerd never looks for a plugin that is gone), stops the daemon, and
// removes its folder.
func (h *host) cleanup(t *testing.T) {
	running := h.cmd != nil && h.cmd.ProcessState == nil
	if running {
		vols, _, _ := h.e.d.Run(t, "volume", "ls", "-q", "--filter", "driver="+h.Driver)
		for _, v := range strings.Fields(vols) {
			ids, _, _ := h.e.d.Run(t, "ps", "-aq", "--filter", "volume="+v)
			if ids := strings.Fields(ids); len(ids) > 0 {
				h.e.d.Run(t, append([]string{"rm", "-f"}, ids...)...)
			}
			h.e.d.Run(t, "volume", "rm", "-f", v)
		}
		h.stop(t)
	}
	if log := h.log(); strings.Contains(log, "DATA RACE") {
		t.Errorf("host %s: the race detector reported a data race in s3vol:\n%s", h.ID, log[strings.Index(log, "WARNING: DATA RACE"):])
	}
	if t.Failed() {
		t.Logf("host %s (%s) log, last lines:\n%s", h.ID, h.Driver, h.logTail(80))
	}
	detachUnder(h.mountRoot)
	os.Remove(h.socket)
	if err := os.RemoveAll(h.dir); err != nil {
		t.Logf("removing %s: %v", h.dir, err)
	}
}

func (h *host) logTail(n int) string {
	b, err := os.ReadFile(h.logPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// log returns the daemon's whole log.
func (h *host) log() string {
	b, _ := os.ReadFile(h.logPath)
	return string(b)
}

// detachUnder lazily unmounts whatever a killed daemon left under dir.
func detachUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			points = append(points, f[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
			fmt.Fprintf(os.Stderr, "e2e: detaching %s: %v\n", p, err)
		}
	}
}

// sh runs script with `sh -ec` in a throw-away container (--rm, no
// network) of the busybox image, with docker run options opts, and returns
// its output. The test fails if the container fails.
func (e *env) sh(t *testing.T, script string, opts ...string) string {
	t.Helper()
	return e.d.Must(t, e.runArgs(script, opts)...)
}

// shErr is sh for a container that may fail.
func (e *env) shErr(t *testing.T, script string, opts ...string) (stdout, stderr string, err error) {
	t.Helper()
	return e.d.Run(t, e.runArgs(script, opts)...)
}

func (e *env) runArgs(script string, opts []string) []string {
	args := append([]string{"run", "--rm", "--network", "none"}, opts...)
	return append(args, e.d.Image, "sh", "-ec", script)
}
