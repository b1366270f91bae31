package driver

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/s3vol/s3vol/internal/testenv"
)

// nobody is the unprivileged user the tests read as.
const nobody = 65534

// readAs runs cat on path as uid and gid 65534 and returns its error output.
func readAs(t *testing.T, path string) (string, error) {
	t.Helper()
	cmd := exec.Command("cat", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Mounts use allow_other and volumes default to 0755 folders and 0644
// files, so the mount root is what keeps the host's other users out of
// every volume: it must be closed to them, as Docker's /var/lib/docker is.
// Containers do not pass through it: dockerd bind-mounts the volume's own
// mountpoint into them.
func TestMountRootIsClosedToOtherUsers(t *testing.T) {
	testenv.NeedRoot(t)
	f := newFixture(t, fixtureOpts{})
	// The test's own folders are 0700; open the mount root's parents, as
	// /var/lib/s3vol is, so only the mount root's mode decides.
	for dir := filepath.Dir(f.root); dir != os.TempDir() && dir != "/"; dir = filepath.Dir(dir) {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f.create("v", nil)
	mp := f.mount("v", "c1")
	defer f.unmount("v", "c1")
	file := filepath.Join(mp, "secret.txt")
	if err := os.WriteFile(file, []byte("private data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := readAs(t, file)
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Fatalf("uid %d read %s under a mount root of mode %v: err %v, output %q; want permission denied",
			nobody, file, modeOf(t, f.root), err, out)
	}
	if m := modeOf(t, f.root); m&0o007 != 0 {
		t.Errorf("mount root mode %v grants other users access", m)
	}

	// A mount root left open by an earlier version is closed at start.
	if err := os.Chmod(f.root, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Registry: f.reg, Data: f.data, MountRoot: f.root, CacheDir: filepath.Join(f.state, "cache2"), Logger: f.d.log}); err != nil {
		t.Fatal(err)
	}
	if m := modeOf(t, f.root); m&0o007 != 0 {
		t.Errorf("an existing mount root of mode 0755 is still %v after New", m)
	}
}

func modeOf(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}
