package dockertest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestRunContainer(t *testing.T) {
	d := Shared(t)
	out := d.Must(t, "run", "--rm", "--network", "none", d.Image, "sh", "-c", "echo hello; ls /bin/busybox; id -u")
	if want := "hello\n/bin/busybox\n0"; out != want {
		t.Fatalf("container printed %q, want %q", out, want)
	}
}

func TestRunFailureIsReported(t *testing.T) {
	d := Shared(t)
	_, stderr, err := d.Run(t, "volume", "inspect", "no-such-volume-dockertest")
	if err == nil {
		t.Fatal("inspecting a missing volume succeeded")
	}
	if !strings.Contains(strings.ToLower(stderr), "no such volume") {
		t.Fatalf("stderr %q does not say the volume is missing", stderr)
	}
}

func TestLocalVolumeRoundTrip(t *testing.T) {
	d := Shared(t)
	vol := "dockertest-local"
	d.Must(t, "volume", "create", vol)
	t.Cleanup(func() { d.Run(t, "volume", "rm", "-f", vol) })
	d.Must(t, "run", "--rm", "--network", "none", "-v", vol+":/data", d.Image, "sh", "-c", "echo kept > /data/f")
	if out := d.Must(t, "run", "--rm", "--network", "none", "-v", vol+":/data", d.Image, "cat", "/data/f"); out != "kept" {
		t.Fatalf("second container read %q, want %q", out, "kept")
	}
}

func TestCompose(t *testing.T) {
	d := Shared(t)
	dir := t.TempDir()
	compose := `version: "2.4"
services:
  hello:
    image: ` + d.Image + `
    network_mode: none
    command: ["sh", "-c", "echo from-compose"]
`
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	d.MustCompose(t, dir, "-p", "dockertest", "up", "--no-color")
	t.Cleanup(func() { d.Compose(t, dir, "-p", "dockertest", "down", "-v") })
	logs := d.MustCompose(t, dir, "-p", "dockertest", "logs", "--no-color", "hello")
	if !strings.Contains(logs, "from-compose") {
		t.Fatalf("compose logs %q lack the service's output", logs)
	}
}

// A private engine is a second host: it does not see the shared engine's
// volumes.
func TestPrivateEngineIsSeparate(t *testing.T) {
	d := Shared(t)
	vol := "dockertest-private-check"
	d.Must(t, "volume", "create", vol)
	t.Cleanup(func() { d.Run(t, "volume", "rm", "-f", vol) })
	p := Private(t)
	if p.Host == d.Host {
		t.Fatalf("private engine shares the shared engine's socket %s", p.Host)
	}
	if out := p.Must(t, "volume", "ls", "-q"); strings.Contains(out, vol) {
		t.Fatalf("private engine lists the shared engine's volume: %q", out)
	}
	if out := p.Must(t, "run", "--rm", "--network", "none", p.Image, "echo", "second"); out != "second" {
		t.Fatalf("private engine's container printed %q", out)
	}
}

// Reload applies a changed configuration file; Restart starts the engine
// again on the same data root with other flags, here without the test's
// configuration file: its labels go, its volume and image stay.
func TestPrivateReloadAndRestart(t *testing.T) {
	config := filepath.Join(t.TempDir(), "daemon.json")
	if err := os.WriteFile(config, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := PrivateWith(t, "--config-file", config)
	labels := func() string { return p.Must(t, "info", "--format", "{{json .Labels}}") }
	p.Must(t, "volume", "create", "kept")

	if err := os.WriteFile(config, []byte(`{"labels": ["s3vol.dockertest=reloaded"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	p.Reload(t)
	deadline := time.Now().Add(15 * time.Second) // dockerd reloads asynchronously
	for !strings.Contains(labels(), "s3vol.dockertest=reloaded") {
		if time.Now().After(deadline) {
			t.Fatalf("15s after Reload the engine's labels are %s", labels())
		}
		time.Sleep(200 * time.Millisecond)
	}

	p.Restart(t)
	if l := labels(); strings.Contains(l, "s3vol.dockertest") {
		t.Fatalf("after a Restart without the configuration file the labels are %s", l)
	}
	// Only local volumes: every engine also lists the volumes of the legacy
	// plugins in /run/docker/plugins, such as other packages' tests serve.
	if out := p.Must(t, "volume", "ls", "-q", "--filter", "driver=local"); out != "kept" {
		t.Fatalf("after Restart the local volumes are %q, want kept", out)
	}
	if out := p.Must(t, "run", "--rm", "--network", "none", "-v", "kept:/data", p.Image, "echo", "again"); out != "again" {
		t.Fatalf("after Restart a container printed %q", out)
	}
	if b, err := os.ReadFile(p.LogPath()); err != nil || strings.Count(string(b), "API listen on "+p.Socket()) != 2 {
		t.Fatalf("the engine's log does not show two starts on %s (err %v)", p.Socket(), err)
	}
}
