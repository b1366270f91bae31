package dockertest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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
	if err := dropCopiedFUSEMounts(); err != nil {
		return err
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

// dropCopiedFUSEMounts detaches, in this new namespace, the copies of the
// FUSE mounts it inherited. They belong to other processes (go test runs
// packages side by side: another package's test mounts), and a copy keeps
// such a filesystem served after its owner unmounted it, until this binary
// exits; the owner's unmount would wait on us. Detaching a copy here does
// not touch the original. Mounts under /proc, /sys and /dev (lxcfs and the
// like) are left: they are the machine's, not a test's.
func dropCopiedFUSEMounts() error {
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("reading the namespace's mounts: %w", err)
	}
	for _, line := range strings.Split(string(info), "\n") {
		mountpoint, fstype, ok := mountOf(line)
		if !ok || !(fstype == "fuse" || fstype == "fuseblk" || strings.HasPrefix(fstype, "fuse.")) {
			continue
		}
		if strings.HasPrefix(mountpoint, "/proc/") || strings.HasPrefix(mountpoint, "/sys/") || strings.HasPrefix(mountpoint, "/dev/") {
			continue
		}
		if err := syscall.Unmount(mountpoint, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("detaching the copy of the FUSE mount %s: %w", mountpoint, err)
		}
	}
	return nil
}

// mountOf reads the mountpoint and file system type of a line of
// /proc/self/mountinfo ("ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAGS] -
// TYPE SOURCE SUPEROPTS"; octal escapes such as \040 in paths undone).
func mountOf(line string) (mountpoint, fstype string, ok bool) {
	f := strings.Fields(line)
	sep := slices.Index(f, "-")
	if len(f) < 5 || sep < 0 || sep+1 >= len(f) {
		return "", "", false
	}
	return unescapeMountinfo(f[4]), f[sep+1], true
}

func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
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
