package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Done-when 8: Docker's own call sequences.

// docker cp into and out of a running container: Docker mounts again with
// the container's mount ID and unmounts it; the count must come back to the
// container's one use, not to zero, and reach zero when the container goes.
func TestDockerCp(t *testing.T) {
	e := newEnv(t)
	h := e.startHost(t, "host-a")
	d := e.d
	d.Must(t, "volume", "create", "-d", h.Driver, "cpvol")
	c := "cp-" + h.Driver
	d.Must(t, "run", "-d", "--init", "--name", c, "--network", "none", "-v", "cpvol:/data", d.Image, "sleep", "600")
	t.Cleanup(func() { d.Run(t, "rm", "-f", c) })

	src := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(src, []byte("copied in\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Must(t, "cp", src, c+":/data/in.txt")
	d.Must(t, "exec", c, "sh", "-ec", "echo made inside > /data/out.txt")
	outDir := t.TempDir()
	d.Must(t, "cp", c+":/data/out.txt", outDir)
	if b, err := os.ReadFile(filepath.Join(outDir, "out.txt")); err != nil || string(b) != "made inside\n" {
		t.Fatalf("docker cp out gave %q, %v", b, err)
	}
	// Once the driver has had both cp's Unmounts, the count is back to
	// the container's one use (a wrong count would be 0, and the volume
	// unmounted after the grace period).
	eventually(t, 15*time.Second, "the driver never got docker cp's two Unmounts", func() bool {
		return h.calls("Unmount", "cpvol") >= 2
	})
	if on, want := status(t, d, "cpvol")["mountedOn"], h.ID+" (1)"; on != want {
		t.Fatalf("after docker cp the volume is mounted on %v, want %s (the running container's one use)", on, want)
	}
	if out := d.Must(t, "exec", c, "cat", "/data/in.txt"); out != "copied in" {
		t.Fatalf("after docker cp the container reads %q", out)
	}
	if !h.mounted() {
		t.Fatal("docker cp's Unmount unmounted the volume under the running container")
	}
	d.Must(t, "rm", "-f", c)
	eventually(t, 15*time.Second, "the volume stays mounted after its container left", func() bool { return !h.mounted() })
	if out := e.sh(t, "cat /data/in.txt /data/out.txt", "-v", "cpvol:/data"); out != "copied in\nmade inside" {
		t.Fatalf("a new container reads %q", out)
	}
}

// docker run --rm: a named volume stays (and is unmounted); an anonymous
// volume is removed with the container.
func TestRunRm(t *testing.T) {
	e := newEnv(t)
	h := e.startHost(t, "host-a")
	d := e.d
	e.sh(t, "echo kept > /data/f", "--volume-driver", h.Driver, "-v", "named:/data")
	eventually(t, 15*time.Second, "the named volume stays mounted after run --rm", func() bool { return !h.mounted() })
	if out := e.sh(t, "cat /data/f", "-v", "named:/data"); out != "kept" {
		t.Fatalf("named volume holds %q", out)
	}

	before := volumeNames(t, d, h.Driver)
	e.sh(t, "echo scratch > /scratch/f; cat /scratch/f", "--volume-driver", h.Driver, "-v", "/scratch")
	after := volumeNames(t, d, h.Driver)
	if len(after) != len(before) {
		t.Fatalf("run --rm left an anonymous volume: before %v, after %v", before, after)
	}
	out, err := h.admin(t, "volume", "ls")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && len(f[0]) == 64 {
			t.Fatalf("the registry still lists an anonymous volume:\n%s", out)
		}
	}
}

// A Mount that fails (the store refuses the credentials) leaves no count:
// once the store takes the credentials again, a container uses the volume
// and, when it leaves, the volume is unmounted and can be deleted.
func TestFailedMountLeavesNoCount(t *testing.T) {
	e := newEnv(t)
	e.srv.NeedLocal(t)
	h := e.startHost(t, "host-a")
	d := e.d
	d.Must(t, "volume", "create", "-d", h.Driver, "guarded")
	e.sh(t, "echo before > /data/f", "-v", "guarded:/data")
	eventually(t, 15*time.Second, "the volume stays mounted", func() bool { return !h.mounted() })

	// Rotate MinIO's root secret: the daemon's keys are now refused.
	good := e.srv.SecretKey
	e.srv.Stop()
	e.srv.SecretKey = good + "-rotated"
	e.srv.StartT(t)
	restored := false
	restore := func() {
		if !restored {
			restored = true
			e.srv.Stop()
			e.srv.SecretKey = good
			e.srv.StartT(t)
		}
	}
	t.Cleanup(restore)

	_, stderr, err := e.shErr(t, "cat /data/f", "-v", "guarded:/data")
	if err == nil {
		t.Fatal("a container mounted the volume with refused credentials")
	}
	t.Logf("the failed mount said: %s", stderr)
	if !strings.Contains(stderr, "credentials") {
		t.Errorf("the failed mount says %q; want it to name the credentials", stderr)
	}
	if h.mounted() {
		t.Fatal("a failed Mount left a mount behind")
	}

	restore()
	if out := e.sh(t, "cat /data/f", "-v", "guarded:/data"); out != "before" {
		t.Fatalf("after the credentials work again the volume holds %q", out)
	}
	eventually(t, 15*time.Second, "the volume stays mounted: the failed Mount left a count", func() bool { return !h.mounted() })
	d.Must(t, "volume", "rm", "guarded")
}
