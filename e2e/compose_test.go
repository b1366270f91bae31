package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/dockertest"
)

// Done-when 5: a compose file with two services sharing an s3vol volume
// (driver and driver_opts) comes up, exchanges data and goes down; down -v
// removes the volume.
func TestCompose(t *testing.T) {
	shared := newEnv(t)
	h := shared.startHost(t, "host-a")
	// A private engine: dockerd remembers every legacy plugin it ever
	// activated and, when compose looks a volume name up, asks each one,
	// waiting 30 s on every plugin an earlier test has stopped.
	e := &env{d: dockertest.Private(t), srv: shared.srv, bucket: shared.bucket}
	t.Cleanup(func() { cleanupDriver(t, e.d, h.Driver) })
	dir := t.TempDir()
	compose := `version: "2.4"
services:
  producer:
    image: ` + e.d.Image + `
    network_mode: none
    init: true
    command: ["sh", "-ec", "echo hello-from-producer > /shared/msg; while [ ! -f /shared/reply ]; do sleep 0.2; done; sleep 600"]
    volumes: ["exchange:/shared"]
  consumer:
    image: ` + e.d.Image + `
    network_mode: none
    init: true
    user: "1000:1000"
    command: ["sh", "-ec", "while [ ! -f /exchange/msg ]; do sleep 0.2; done; cat /exchange/msg > /exchange/reply; echo consumer-done >> /exchange/reply; sleep 600"]
    # Not /data: the image has /data, and Docker gives an empty volume
    # mounted over an image folder that folder's owner and mode.
    volumes: ["exchange:/exchange"]
volumes:
  exchange:
    driver: ` + h.Driver + `
    driver_opts:
      uid: "1000"
      gid: "1000"
      mode: "0777"
`
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(compose), 0o644); err != nil {
		t.Fatal(err)
	}
	project := strings.ReplaceAll(h.Driver, "-", "")
	vol := project + "_exchange"
	e.d.MustCompose(t, dir, "-p", project, "up", "-d")
	t.Cleanup(func() { e.d.Compose(t, dir, "-p", project, "down", "-v", "-t", "1") })
	t.Cleanup(func() {
		if t.Failed() {
			logs, _, _ := e.d.Compose(t, dir, "-p", project, "logs", "--no-color")
			ps, _, _ := e.d.Compose(t, dir, "-p", project, "ps")
			t.Logf("compose ps:\n%s\ncompose logs:\n%s", ps, logs)
		}
	})

	var reply string
	eventually(t, 60*time.Second, "the services did not exchange their messages", func() bool {
		out, _, err := e.d.Compose(t, dir, "-p", project, "exec", "-T", "producer", "cat", "/shared/reply")
		reply = strings.TrimSpace(out)
		return err == nil && strings.Contains(reply, "consumer-done")
	})
	if reply != "hello-from-producer\nconsumer-done" {
		t.Fatalf("reply = %q", reply)
	}
	// The non-root consumer wrote the reply as uid 1000.
	if out := e.d.MustCompose(t, dir, "-p", project, "exec", "-T", "producer", "stat", "-c", "%u", "/shared/reply"); out != "1000" {
		t.Errorf("reply is owned by uid %s, want 1000", out)
	}
	if s := status(t, e.d, vol); s["uid"] != float64(1000) || s["mode"] != "0777" {
		t.Errorf("the volume's status %v does not show the driver_opts", s)
	}

	e.d.MustCompose(t, dir, "-p", project, "down", "-v", "-t", "1")
	if names := volumeNames(t, e.d, h.Driver); contains(names, vol) {
		t.Fatalf("docker-compose down -v left the volume: %v", names)
	}
	if out, err := h.admin(t, "volume", "ls"); err != nil || strings.Contains(out, vol) {
		t.Fatalf("the registry still lists %s after down -v (err %v):\n%s", vol, err, out)
	}
}
