package e2e

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Issue 13.4: with the store unreachable the plugin cannot know whether a
// volume exists. Docker takes a driver's ordinary Get error for "no such
// volume", forgets the volume and creates a LOCAL one of the same name; the
// container then writes there as if it were the shared volume. The plugin
// must make dockerd refuse instead, with a message that says why.
func TestStoreDownRefusesLocalFallback(t *testing.T) {
	e := newEnv(t)
	h := e.startHost(t, "host-a")
	d := e.d
	d.Must(t, "volume", "create", "-d", h.Driver, "data")
	e.sh(t, "echo shared > /data/f", "-v", "data:/data")

	// The plugin restarts while the store is down, and its snapshot does
	// not know the volume (as after `docker plugin disable -f` rewrote it
	// empty, or for a volume another host made): it cannot tell.
	h.stop(t)
	if err := os.RemoveAll(filepath.Join(h.dir, "state")); err != nil {
		t.Fatal(err)
	}
	h.env = append(h.env, "S3VOL_ENDPOINT=http://"+closedAddr(t))
	h.startWithoutStore(t)

	start := time.Now()
	_, stderr, err := e.shErr(t, "echo local > /data/f", "-v", "data:/data")
	took := time.Since(start)
	t.Logf("docker run with the store down took %v and said: %s", took.Round(time.Millisecond), strings.TrimSpace(stderr))
	if err == nil {
		t.Error("docker run with the store down succeeded")
	}
	if !strings.Contains(stderr, "s3vol cannot tell whether") {
		t.Errorf("docker run with the store down printed %q, want the plugin's reason", stderr)
	}
	if local := volumeNames(t, d, "local"); contains(local, "data") {
		d.Run(t, "volume", "rm", "-f", "data")
		t.Fatalf("dockerd created a local volume named data while the store was down: %v", local)
	}
}

// closedAddr returns a local address nothing listens on: a store there is
// down (connections refused).
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// startWithoutStore runs `s3vol serve` and waits only for its socket to
// answer Activate: with the store down, List cannot answer.
func (h *host) startWithoutStore(t *testing.T) {
	t.Helper()
	h.launch(t)
	eventually(t, 10*time.Second, "the plugin socket never answered Activate", func() bool {
		status, _, err := h.call("/Plugin.Activate", "")
		return err == nil && status == http.StatusOK
	})
}
