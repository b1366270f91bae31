package e2e

import (
	"strings"
	"testing"
	"time"
)

// Done-when 7: kill -9 the plugin while a container has a volume mounted;
// restart it; a new docker run of the same volume works and sees all data
// committed (closed) before the kill.
func TestKillAndRestart(t *testing.T) {
	e := newEnv(t)
	h := e.startHost(t, "host-a")
	d := e.d
	d.Must(t, "volume", "create", "-d", h.Driver, "durable")
	w := "writer-" + h.Driver
	d.Must(t, "run", "-d", "--init", "--name", w, "--network", "none", "-v", "durable:/data", d.Image, "sh", "-ec",
		`echo committed > /data/small
dd if=/dev/urandom of=/data/big bs=1M count=12 2>/dev/null
sha256sum /data/big | cut -d' ' -f1 > /data/big.sha256
mkdir -p /data/tree/a/b && echo deep > /data/tree/a/b/c
touch /data/READY
sleep 600`)
	t.Cleanup(func() { d.Run(t, "rm", "-f", w) })
	eventually(t, 60*time.Second, "the writer never finished", func() bool {
		_, _, err := d.Run(t, "exec", w, "test", "-f", "/data/READY")
		return err == nil
	})

	h.kill(t)
	h.start(t)

	out := e.sh(t, `cat /data/small /data/tree/a/b/c
[ "$(sha256sum /data/big | cut -d' ' -f1)" = "$(cat /data/big.sha256)" ] && echo big-ok
ls /data`, "-v", "durable:/data")
	if want := "committed\ndeep\nbig-ok\nREADY\nbig\nbig.sha256\nsmall\ntree"; out != want {
		t.Fatalf("after the restart the volume shows %q, want %q", out, want)
	}
	if !strings.Contains(h.log(), "detached a stale mount") {
		t.Errorf("the restarted daemon did not report detaching the killed one's mount")
	}
	// The old container's Unmount reaches a daemon that never saw its
	// mount ID: it succeeds, and the volume can then be deleted.
	d.Must(t, "rm", "-f", w)
	eventually(t, 15*time.Second, "the volume stays mounted after its last container left", func() bool { return !h.mounted() })
	d.Must(t, "volume", "rm", "durable")
}

// SIGTERM while a container uses a volume: the daemon flushes, unmounts
// and releases its lease, and exits cleanly; after a restart the volume
// holds everything written before, and nothing blocks its deletion.
func TestGracefulShutdownWithMountedVolume(t *testing.T) {
	e := newEnv(t)
	h := e.startHost(t, "host-a")
	d := e.d
	d.Must(t, "volume", "create", "-d", h.Driver, "steady")
	w := "steady-" + h.Driver
	d.Must(t, "run", "-d", "--init", "--name", w, "--network", "none", "-v", "steady:/data", d.Image, "sh", "-ec",
		"seq 1 5000 > /data/numbers; touch /data/READY; sleep 600")
	t.Cleanup(func() { d.Run(t, "rm", "-f", w) })
	eventually(t, 60*time.Second, "the writer never finished", func() bool {
		_, _, err := d.Run(t, "exec", w, "test", "-f", "/data/READY")
		return err == nil
	})

	h.stop(t)
	if t.Failed() {
		return
	}
	if h.mounted() {
		t.Fatal("the stopped daemon left its mount behind")
	}
	if !strings.Contains(h.log(), "unmounting a volume containers still use") {
		t.Error("the daemon did not warn that it unmounted a volume in use")
	}
	h.start(t)
	if out := e.sh(t, "wc -l < /data/numbers; tail -n 1 /data/numbers", "-v", "steady:/data"); out != "5000\n5000" {
		t.Fatalf("after the restart the volume holds %q", out)
	}
	d.Must(t, "rm", "-f", w)
	eventually(t, 15*time.Second, "the volume stays mounted", func() bool { return !h.mounted() })
	d.Must(t, "volume", "rm", "steady")
}
