package dockertest

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// killShims kills every containerd shim still serving the containerd that
// listened on address. dockerd 20.10 leaves one behind, running after the
// engine has stopped, when a managed plugin's enable fails. Only shims
// that name the address are touched: each engine's address lies in its
// own folder, so other engines' shims are left alone.
func killShims(address string, log logf) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, path := range procs {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // the process has gone
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") || !slices.Contains(args, address) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		if err != nil {
			continue
		}
		log("a containerd shim of the stopped engine is still running (pid %d: %s); killing it", pid, strings.Join(args, " "))
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// killPidFile kills the process whose pid the file holds, if any.
func killPidFile(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}
