package dockertest

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// killShims kills the shims that name the stopped engine's containerd
// address and leaves another engine's shim running.
func TestKillShimsOfOneEngineOnly(t *testing.T) {
	dir := t.TempDir()
	mine := startFakeShim(t, filepath.Join(dir, "mine", "containerd.sock"))
	other := startFakeShim(t, filepath.Join(dir, "other", "containerd.sock"))

	var logged []string
	killShims(filepath.Join(dir, "mine", "containerd.sock"), func(format string, args ...any) {
		logged = append(logged, fmt.Sprintf(format, args...))
	})
	select {
	case <-mine.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the engine's shim is still running 10s after killShims")
	}
	select {
	case <-other.exited:
		t.Fatal("killShims killed another engine's shim")
	default:
	}
	if len(logged) != 1 || !strings.Contains(logged[0], fmt.Sprintf("pid %d", mine.cmd.Process.Pid)) {
		t.Fatalf("killShims logged %q; want one line naming pid %d", logged, mine.cmd.Process.Pid)
	}
}

type fakeShim struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// startFakeShim runs a shell that calls itself containerd-shim and carries
// the address among its arguments, as a real shim does; it waits on its
// stdin, so it lives until killed or the test ends.
func startFakeShim(t *testing.T, address string) *fakeShim {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", "read line", "-address", address)
	cmd.Args[0] = "containerd-shim"
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &fakeShim{cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		<-s.exited
	})
	return s
}
