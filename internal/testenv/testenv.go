// Package testenv tells tests whether the machine has the real parts they
// need (root, /dev/fuse, a Docker engine) and skips or fails accordingly.
//
// On a developer's machine a missing part skips the test with the reason
// printed. Under CI=true a missing part fails the test: CI must run every
// test, so a skip there would hide a broken setup.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true).
func InCI() bool { return os.Getenv("CI") == "true" }

// Need skips (or, under CI, fails) t unless ok holds; reason says what is
// missing and how to get it.
func Need(t testing.TB, ok bool, reason string) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("required under CI=true but missing: %s", reason)
	}
	t.Skipf("skipped: %s", reason)
}

// NeedRoot requires the tests to run as root (FUSE mounts, docker).
func NeedRoot(t testing.TB) {
	t.Helper()
	Need(t, os.Geteuid() == 0, "needs root (run the tests as root, e.g. sudo make test)")
}

// NeedFUSE requires root and a usable /dev/fuse.
func NeedFUSE(t testing.TB) {
	t.Helper()
	NeedRoot(t)
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err == nil {
		f.Close()
	}
	Need(t, err == nil, "needs /dev/fuse (apt-get install fuse3; in a container, --device /dev/fuse --cap-add SYS_ADMIN)")
}

// NeedCommand requires an executable on PATH.
func NeedCommand(t testing.TB, name, pkg string) {
	t.Helper()
	_, err := exec.LookPath(name)
	Need(t, err == nil, name+" not found on PATH (apt-get install "+pkg+")")
}
