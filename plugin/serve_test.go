package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/testenv"
)

// syncBuffer is a log sink the daemon and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pluginClient calls a plugin socket the way dockerd does.
type pluginClient struct {
	t      *testing.T
	socket string
	http   *http.Client
}

func newPluginClient(t *testing.T, socket string) *pluginClient {
	return &pluginClient{t: t, socket: socket, http: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		}},
	}}
}

// call POSTs req and decodes the reply into res; it returns the reply's Err.
func (c *pluginClient) call(path string, req, res any) (string, error) {
	body, _ := json.Marshal(req)
	resp, err := c.http.Post("http://plugin"+path, "application/vnd.docker.plugins.v1.1+json", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	var e struct{ Err string }
	json.Unmarshal(b, &e)
	if res != nil {
		if err := json.Unmarshal(b, res); err != nil {
			return "", fmt.Errorf("%s: reply %q: %w", path, b, err)
		}
	}
	if resp.StatusCode != http.StatusOK && e.Err == "" {
		return "", fmt.Errorf("%s: status %d: %s", path, resp.StatusCode, b)
	}
	return e.Err, nil
}

func (c *pluginClient) must(path string, req, res any) {
	c.t.Helper()
	msg, err := c.call(path, req, res)
	if err != nil || msg != "" {
		c.t.Fatalf("%s: %v %s", path, err, msg)
	}
}

// `s3vol serve` with no endpoint serves real volumes on the built-in local
// store: the README's first command on a fresh machine.
func TestServeOnLocalStore(t *testing.T) {
	testenv.NeedFUSE(t)
	dir := t.TempDir()
	socket := filepath.Join(dir, "s3vol.sock")
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte("access_key = k\nsecret_key = s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--socket", socket, "--state-dir", filepath.Join(dir, "state"),
		"--mount-root", filepath.Join(dir, "mounts"), "--mount-grace", "0", "--log-level", "debug",
		"--credentials-file", ""}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, args, &logs, &logs) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", logs.String())
		}
	})

	c := newPluginClient(t, socket)
	deadline := time.Now().Add(10 * time.Second)
	var manifest struct{ Implements []string }
	for {
		if _, err := c.call("/Plugin.Activate", struct{}{}, &manifest); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the socket did not answer Activate within 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Join(manifest.Implements, ",") != "VolumeDriver,authz" {
		t.Fatalf("Activate reports %v, want VolumeDriver and authz", manifest.Implements)
	}

	c.must("/VolumeDriver.Create", map[string]any{"Name": "local1", "Opts": map[string]string{"mode": "0700"}}, nil)
	var mount struct{ Mountpoint string }
	c.must("/VolumeDriver.Mount", map[string]string{"Name": "local1", "ID": "abc"}, &mount)
	if err := os.WriteFile(filepath.Join(mount.Mountpoint, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var get struct {
		Volume struct{ Name, Mountpoint string }
	}
	c.must("/VolumeDriver.Get", map[string]string{"Name": "local1"}, &get)
	if get.Volume.Mountpoint != mount.Mountpoint {
		t.Errorf("Get's mountpoint %q, Mount's %q", get.Volume.Mountpoint, mount.Mountpoint)
	}
	c.must("/VolumeDriver.Unmount", map[string]string{"Name": "local1", "ID": "abc"}, nil)
	if msg, err := c.call("/VolumeDriver.Create", map[string]any{"Name": "local2", "Opts": map[string]string{"bogus": "1"}}, nil); err != nil || !strings.Contains(msg, "accepted options") {
		t.Errorf("create with a bad option: %v %q", err, msg)
	}
	var caps struct{ Capabilities struct{ Scope string } }
	c.must("/VolumeDriver.Capabilities", struct{}{}, &caps)
	if caps.Capabilities.Scope != "global" {
		t.Errorf("scope %q", caps.Capabilities.Scope)
	}
	if msg, _ := c.call("/VolumeDriver.Frobnicate", struct{}{}, nil); !strings.Contains(msg, "does not implement") {
		t.Errorf("unknown method answered %q", msg)
	}

	// The file is in the local store, under the volume's prefix.
	if keys := localKeys(t, filepath.Join(dir, "state", "store", "s3vol")); !anySuffix(keys, "/hello.txt") {
		t.Errorf("hello.txt is not in the local store: %v", keys)
	}

	cancel() // SIGTERM's path: stop, flush, unmount, release
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop within a minute")
	}
	if _, err := os.Stat(socket); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "docker call") && !strings.Contains(line, "method=") {
			t.Errorf("a call log line lacks the method: %s", line)
		}
	}
	if !strings.Contains(logs.String(), `method=Mount mountID=abc`) || !strings.Contains(logs.String(), "volume=local1") {
		t.Errorf("no Mount log line with volume and mount ID:\n%s", logs.String())
	}
}

// The socket of a live daemon is never taken over; a stale one is.
func TestListenSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plugins", "p.sock")
	ln, err := listenSocket(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := listenSocket(path); err == nil || !strings.Contains(err.Error(), "served by another process") {
		t.Fatalf("second listen on a live socket: %v", err)
	}
	// A socket file nobody serves (a killed daemon's): replaced. Closing a
	// unix listener removes its file, so leave one behind by hand.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("setup: %v", err)
	}
	ln2, err := listenSocket(path)
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	defer ln2.Close()
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o660 {
		t.Errorf("socket: %v, %v; want mode 0660 (only root and its group may call the plugin)", st, err)
	}
}

// The socket answers before the store does (Docker disables a plugin that
// is not listening within about 10 s), and calls that need the store say
// why they fail.
func TestServeAnswersBeforeTheStore(t *testing.T) {
	testenv.NeedFUSE(t)
	dir := t.TempDir()
	socket := filepath.Join(dir, "s3vol.sock")
	creds := filepath.Join(dir, "credentials")
	if err := os.WriteFile(creds, []byte("access_key = k\nsecret_key = s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--socket", socket, "--state-dir", filepath.Join(dir, "state"),
		"--mount-root", filepath.Join(dir, "mounts"), "--endpoint", "http://127.0.0.1:1",
		"--credentials-file", creds}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuffer
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, args, &logs, &logs) }()
	c := newPluginClient(t, socket)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := c.call("/Plugin.Activate", struct{}{}, nil); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer within 10 s with the store down\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var caps struct{ Capabilities struct{ Scope string } }
	c.must("/VolumeDriver.Capabilities", struct{}{}, &caps)
	msg, err := c.call("/VolumeDriver.Create", map[string]any{"Name": "v"}, nil)
	if err != nil || !strings.Contains(msg, "not connected to the object store") || !strings.Contains(msg, "127.0.0.1:1 (connection refused)") {
		t.Fatalf("create with the store down: %v %q; want a message saying nothing listens at the endpoint", err, msg)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("serve did not stop")
	}
}
