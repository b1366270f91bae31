package dockertest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
