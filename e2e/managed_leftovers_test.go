package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/s3vol/s3vol/internal/dockertest"
)

// leftovers reaps, after the private engine has stopped, what dockerd 20.10
// leaves of a managed plugin whose enable failed: a containerd shim that
// outlives the engine and the plugin's folder under /run/docker/plugins
// (a path dockerd uses whatever its --exec-root). Register reap with
// t.Cleanup before starting the engine, so that it runs after the engine's
// own clean-up.
type leftovers struct {
	engineDir string   // the private engine's folder
	pluginIDs []string // every plugin the test created
}

// setEngine records the engine's folder: dockertest keeps its socket there.
func (l *leftovers) setEngine(d *dockertest.Docker) {
	l.engineDir = filepath.Dir(strings.TrimPrefix(d.Host, "unix://"))
}

func (l *leftovers) reap(t *testing.T) {
	for _, id := range l.pluginIDs {
		os.RemoveAll(filepath.Join("/run/docker/plugins", id))
	}
	if l.engineDir == "" {
		return
	}
	// Only shims of this engine name its containerd socket.
	address := filepath.Join(l.engineDir, "exec", "containerd", "containerd.sock")
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, path := range procs {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") || !containsArg(args, address) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		if err != nil {
			continue
		}
		t.Logf("a containerd shim of the stopped engine is still running (pid %d: %s); killing it", pid, strings.Join(args, " "))
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func containsArg(args []string, s string) bool {
	for _, a := range args {
		if a == s {
			return true
		}
	}
	return false
}
