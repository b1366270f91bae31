package e2e

import (
	"strings"
	"testing"
	"time"
)

// Done-when 4: deleting a mounted volume fails with a clear message; after
// the container exits it succeeds and the data is gone from the store.
func TestDeleteMountedVolume(t *testing.T) {
	e := newEnv(t)
	h := e.startHost(t, "host-a")
	d := e.d
	d.Must(t, "volume", "create", "-d", h.Driver, "busy")
	prefix := dataPrefix(t, d, "busy")
	holder := "holder-" + h.Driver
	d.Must(t, "run", "-d", "--init", "--rm", "--name", holder, "--network", "none", "-v", "busy:/data", d.Image,
		"sh", "-c", "echo held > /data/f; sleep 600")
	t.Cleanup(func() { d.Run(t, "rm", "-f", holder) })
	eventually(t, 30*time.Second, "the holder never wrote its file", func() bool {
		_, _, err := d.Run(t, "exec", holder, "test", "-f", "/data/f")
		return err == nil
	})

	_, stderr, err := d.Run(t, "volume", "rm", "busy")
	if err == nil {
		t.Fatal("a mounted volume was deleted")
	}
	t.Logf("docker volume rm of the mounted volume said: %s", stderr)
	if !strings.Contains(stderr, "in use") {
		t.Fatalf("docker volume rm of a mounted volume printed %q, want it to say the volume is in use", stderr)
	}
	// Forced, dockerd skips its own check and asks the plugin, which refuses
	// too: the lease is held.
	_, stderr, err = d.Run(t, "volume", "rm", "-f", "busy")
	t.Logf("docker volume rm -f of the mounted volume: err %v, said: %s", err, stderr)
	if names := volumeNames(t, d, h.Driver); !contains(names, "busy") {
		t.Fatalf("after a refused forced rm (err %v, %q) the volume is gone from docker volume ls: %v", err, stderr, names)
	}
	if len(e.keys(t, prefix)) == 0 {
		t.Fatal("a refused delete removed the data")
	}

	d.Must(t, "stop", "-t", "1", holder) // --rm: stopping removes it
	eventually(t, 30*time.Second, "the holder container is still there", func() bool {
		out, _, _ := d.Run(t, "ps", "-aq", "--filter", "name="+holder)
		return strings.TrimSpace(out) == ""
	})
	d.Must(t, "volume", "rm", "busy")
	if names := volumeNames(t, d, h.Driver); contains(names, "busy") {
		t.Fatalf("docker volume ls still shows busy: %v", names)
	}
	eventually(t, 30*time.Second, "the deleted volume's data is still in the store", func() bool {
		return len(e.keys(t, prefix)) == 0
	})
	if h.mounted() {
		t.Fatal("the deleted volume is still mounted on the host")
	}
}
