package dockertest

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3vol/s3vol/internal/testenv"
)

// A plugin socket a test serves where dockerd looks for legacy plugins is
// seen by the test's engines and never by the host's Docker: the system
// dockerd would pick it up and, once it is gone, spend minutes on every
// `docker volume rm` looking for it. The host's view is that of the
// process that started the test binary (go test), read through
// /proc/PID/root.
func TestPluginSocketsStayOffTheHost(t *testing.T) {
	d := Private(t)
	name := fmt.Sprintf("dockertest-isolation-%d", os.Getpid())
	sock := filepath.Join(LegacyPluginDir, name+".sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatalf("serving a plugin socket where the test engine looks: %v", err)
	}
	t.Cleanup(func() { l.Close() })

	host := fmt.Sprintf("/proc/%d/root", os.Getppid())
	testenv.Need(t, readable(host+"/"), "cannot see the mount namespace of the process that started the tests through "+host)
	if _, err := os.Lstat(host + sock); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the test's plugin socket %s is visible to the host (stat through %s: %v)", sock, host, err)
	}
	self, _ := os.Readlink("/proc/self/ns/mnt")
	parent, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", os.Getppid()))
	if self == parent {
		t.Fatalf("the tests run in the host's mount namespace %s", self)
	}
	// The engine itself still finds plugins there: it is in the tests'
	// namespace (its process's view of the folder holds the socket).
	pid, err := os.ReadFile(filepath.Join(d.daemon.dir, "docker.pid"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(fmt.Sprintf("/proc/%s/root%s", strings.TrimSpace(string(pid)), sock)); err != nil {
		t.Fatalf("the test engine does not see the plugin socket: %v", err)
	}
}

func readable(dir string) bool {
	_, err := os.ReadDir(dir)
	return err == nil
}
