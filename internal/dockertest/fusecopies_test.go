package dockertest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/s3vol/s3vol/internal/testenv"
)

// childMountEnv asks the test binary, run by TestIsolationDropsCopiedFUSEMounts,
// to report whether its namespace holds the FUSE mount named there.
const childMountEnv = "S3VOL_TEST_FOREIGN_FUSE_MOUNT"

// A private mount namespace starts with a copy of every mount of the one
// it came from, FUSE mounts of other test binaries included: go test runs
// packages side by side, and a copy keeps another package's filesystem
// served after that package unmounted it, until this binary exits (its
// unmount then waits and fails). Isolate drops those copies. The test
// mounts a FUSE filesystem, starts the test binary again (which isolates
// itself from this namespace) and has it look for the mount.
func TestIsolationDropsCopiedFUSEMounts(t *testing.T) {
	testenv.NeedFUSE(t)
	if !isolated {
		testenv.Need(t, false, "the test binary did not isolate itself (needs root and unshare)")
	}
	dir := t.TempDir()
	server, err := fs.Mount(dir, &fs.Inode{}, &fs.Options{MountOptions: fuse.MountOptions{
		DirectMount: true, FsName: "dockertest-probe", Name: "probe"}})
	if err != nil {
		t.Fatalf("mounting a probe filesystem: %v", err)
	}
	t.Cleanup(func() { server.Unmount(); server.Wait() })

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestIsolatedChildSeesNoCopiedFUSEMount$", "-test.count=1")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, isolatedEnv+"=") { // the child isolates itself anew, from here
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, childMountEnv+"="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the isolated test binary: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "no copy of "+dir) {
		t.Fatalf("the isolated test binary did not report on %s:\n%s", dir, out.String())
	}
}

// TestIsolatedChildSeesNoCopiedFUSEMount is the test binary's part when
// TestIsolationDropsCopiedFUSEMounts runs it; otherwise it does nothing.
func TestIsolatedChildSeesNoCopiedFUSEMount(t *testing.T) {
	dir := os.Getenv(childMountEnv)
	if dir == "" {
		return
	}
	if !isolated {
		t.Fatal("the child did not isolate itself")
	}
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(info), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			t.Fatalf("the isolated namespace holds a copy of the FUSE mount %s: %s", dir, line)
		}
	}
	os.Stdout.WriteString("no copy of " + dir + "\n")
}

func TestMountOfReadsMountinfo(t *testing.T) {
	line := `46 27 0:41 / /tmp/a\040b rw,nosuid shared:1 - fuse.s3vol s3vol:x rw,user_id=0`
	mp, typ, ok := mountOf(line)
	if !ok || mp != "/tmp/a b" || typ != "fuse.s3vol" {
		t.Fatalf("mountOf(%q) = %q, %q, %v; want /tmp/a b, fuse.s3vol, true", line, mp, typ, ok)
	}
	if _, _, ok := mountOf("short line"); ok {
		t.Fatal("a malformed line was read as a mount")
	}
}
