package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The host's other users cannot reach a volume through its mount: the
// mount root is closed to them (issue 13.9). A container running as any
// user still can, as the volume's own mode allows: dockerd bind-mounts the
// volume's mountpoint into it, never passing through the mount root.
func TestVolumesClosedToHostUsersOpenToContainers(t *testing.T) {
	e := newEnv(t)
	h := e.startHost(t, "host-a")
	// The test's host folder is 0700; open it, as /var/lib/s3vol is, so
	// that only the mount root's mode decides.
	if err := os.Chmod(h.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e.d.Must(t, "volume", "create", "-d", h.Driver, "-o", "mode=0777", "shared")
	// Not /data: the image has /data, whose owner and mode Docker would
	// give the empty volume.
	out := e.sh(t, "id -u; echo from-nobody > /shared/f; cat /shared/f", "--user", "65534:65534", "-v", "shared:/shared")
	if out != "65534\nfrom-nobody" {
		t.Fatalf("a container running as uid 65534 on a 0777 volume printed %q", out)
	}

	// Keep the volume mounted and look at it from the host.
	id := e.d.Must(t, "run", "-d", "--network", "none", "-v", "shared:/shared", e.d.Image, "sleep", "600")
	t.Cleanup(func() { e.d.Run(t, "rm", "-f", id) })
	mp := e.d.Must(t, "volume", "inspect", "--format", "{{.Mountpoint}}", "shared")
	if !strings.HasPrefix(mp, h.mountRoot+"/") {
		t.Fatalf("mountpoint %s is not under the mount root %s", mp, h.mountRoot)
	}
	if b, err := os.ReadFile(filepath.Join(mp, "f")); err != nil || string(b) != "from-nobody\n" {
		t.Fatalf("root on the host reads %q, %v", b, err)
	}
	cat := exec.Command("cat", filepath.Join(mp, "f"))
	cat.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if b, err := cat.CombinedOutput(); err == nil || !strings.Contains(string(b), "Permission denied") {
		t.Errorf("uid 65534 on the host read the volume's file: %v, %q; want permission denied", err, b)
	}
	if st, err := os.Stat(h.mountRoot); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("mount root: %v, %v; want mode 0700", st.Mode(), err)
	}
}
