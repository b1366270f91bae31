package dockertest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// LegacyPluginDir is where dockerd looks for legacy plugins' sockets,
// whatever its --exec-root; dockerd 20.10 also keeps managed plugins'
// runtime folders there.
const LegacyPluginDir = "/run/docker/plugins"

// pluginSpecDirs are where dockerd looks for plugin spec files.
var pluginSpecDirs = []string{"/etc/docker/plugins", "/usr/lib/docker/plugins"}

// isolatedEnv marks the test binary re-executed by Isolate.
const isolatedEnv = "S3VOL_TEST_MOUNT_NAMESPACE"

// isolated is set once the test binary runs in a private mount namespace
// with folders of its own for plugins; the harness starts engines only
// then.
var isolated bool

// Isolate keeps the package's tests away from the host's Docker. Tests
// serve plugin sockets where dockerd looks for them (LegacyPluginDir, a
// fixed path); in the host's namespace the system dockerd would find them
// too, and once they are gone every `docker volume rm` on the host would
// wait minutes on them. So Isolate re-executes the test binary under
// `unshare --mount --propagation private` (the process keeps its pid,
// so go test's timeouts and signals still reach it) and there mounts an
// empty tmpfs over LegacyPluginDir and the spec folders: the tests, their
// engines and their plugins see only each other's plugins, and the host
// sees none of them. FUSE mounts made in the namespace work as usual.
//
// Call it first in TestMain (Main does); it returns in the re-executed
// process. It does nothing for a user other than root (the engines skip)
// or with S3VOL_TEST_DOCKER_HOST set (the tests then use that engine,
// which must see their plugins). Unless it succeeds, Shared and Private
// skip, or fail under CI=true.
func Isolate() {
	if os.Getenv(isolatedEnv) != "" {
		if err := privatePluginDirs(); err != nil {
			fmt.Fprintf(os.Stderr, "dockertest: %v; the tests that need dockerd will not run\n", err)
			return
		}
		isolated = true
		return
	}
	if os.Getenv("S3VOL_TEST_DOCKER_HOST") != "" || os.Geteuid() != 0 {
		return
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		fmt.Fprintln(os.Stderr, "dockertest: unshare not found (apt-get install util-linux); the tests that need dockerd will not run")
		return
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(os.Stderr, "dockertest: finding the test binary: %v\n", err)
		return
	}
	args := append([]string{unshare, "--mount", "--propagation", "private", "--", exe}, os.Args[1:]...)
	env := append(os.Environ(), isolatedEnv+"="+namespaceOf("self"))
	err = syscall.Exec(unshare, args, env) // returns only on failure
	fmt.Fprintf(os.Stderr, "dockertest: re-executing the tests in a private mount namespace: %v\n", err)
}

// privatePluginDirs mounts an empty tmpfs over the plugin folders, after
// checking that the process really is in a namespace other than the one
// it was started from: mounted in the host's, the tmpfs would hide the
// host's own plugins.
func privatePluginDirs() error {
	started, self := os.Getenv(isolatedEnv), namespaceOf("self")
	if parent := namespaceOf(fmt.Sprint(os.Getppid())); started != parent || self == "" || self == started {
		return fmt.Errorf("%s=%s but the process is in the mount namespace %q, its parent in %q: not a namespace of its own",
			isolatedEnv, started, self, parent)
	}
	// A missing folder is made in the host's /run (only the tmpfs over it
	// is private) and removed again by Stop.
	if err := makeDirs(LegacyPluginDir); err != nil {
		return err
	}
	for _, dir := range append([]string{LegacyPluginDir}, pluginSpecDirs...) {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			continue // nothing of the host's to hide, nothing a test writes there
		}
		if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=755"); err != nil {
			return fmt.Errorf("mounting a private tmpfs over %s: %w", dir, err)
		}
	}
	return nil
}

// namespaceOf names the mount namespace of a process ("self" or a pid).
func namespaceOf(pid string) string {
	ns, _ := os.Readlink("/proc/" + pid + "/ns/mnt")
	return ns
}

// madeDirs are the folders privatePluginDirs created, parents first.
var madeDirs []string

func makeDirs(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := makeDirs(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	madeDirs = append(madeDirs, dir)
	return nil
}

// releasePluginDirs removes the folders privatePluginDirs had to create in
// the host's /run, once the tests are done with them: the private tmpfs
// over LegacyPluginDir goes first, then each folder that is still empty.
func releasePluginDirs() {
	if len(madeDirs) == 0 {
		return
	}
	syscall.Unmount(LegacyPluginDir, syscall.MNT_DETACH)
	for i := len(madeDirs) - 1; i >= 0; i-- {
		os.Remove(madeDirs[i]) // fails, harmlessly, once someone else uses it
	}
	madeDirs = nil
}
