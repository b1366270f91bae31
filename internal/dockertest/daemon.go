package dockertest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// How long the harness waits for dockerd to answer, and to exit.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 45 * time.Second
)

// logf reports what the harness did on its own, such as killing a process
// an engine left behind.
type logf func(format string, args ...any)

// discard is the logf of clean-ups nobody reads: those of a failed start.
func discard(string, ...any) {}

// daemon is a private dockerd whose every file lives under dir. Its process
// can be halted and started again on the same folder.
type daemon struct {
	dir     string
	logPath string
	cmd     *exec.Cmd     // nil while halted
	exited  chan struct{} // closed when cmd has exited
	waitErr error
}

func (dm *daemon) socket() string { return filepath.Join(dm.dir, "docker.sock") }
func (dm *daemon) host() string   { return "unix://" + dm.socket() }

// containerdSocket is where the containerd that dockerd runs listens; every
// containerd shim of this engine names it.
func (dm *daemon) containerdSocket() string {
	return filepath.Join(dm.dir, "exec", "containerd", "containerd.sock")
}

// startDaemon makes a new engine folder, starts dockerd on it with extra
// flags and waits until `docker version` answers.
func startDaemon(extra ...string) (*daemon, error) {
	dir, err := os.MkdirTemp("", "s3vol-dockerd-")
	if err != nil {
		return nil, fmt.Errorf("creating the dockerd folder: %w", err)
	}
	dm := &daemon{dir: dir, logPath: filepath.Join(dir, "dockerd.log")}
	// An empty config file keeps the host's /etc/docker/daemon.json out.
	config := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(config, []byte("{}\n"), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("writing %s: %w", config, err)
	}
	if err := dm.start(extra...); err != nil {
		dm.stop(discard)
		return nil, err
	}
	return dm, nil
}

// start runs dockerd on the engine's folder with extra flags and waits
// until it answers. The log is appended to, so a restarted engine's log
// tells its whole story.
func (dm *daemon) start(extra ...string) error {
	logFile, err := os.OpenFile(dm.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("opening the dockerd log: %w", err)
	}
	defer logFile.Close()
	args := []string{
		"--config-file", filepath.Join(dm.dir, "daemon.json"),
		"--data-root", filepath.Join(dm.dir, "data"),
		"--exec-root", filepath.Join(dm.dir, "exec"),
		"--pidfile", filepath.Join(dm.dir, "docker.pid"),
		"-H", dm.host(),
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
		"--shutdown-timeout=5",
	}
	cmd := exec.Command("dockerd", append(args, extra...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If the test binary dies, dockerd must not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting dockerd: %w", err)
	}
	exited := make(chan struct{})
	dm.cmd, dm.exited = cmd, exited
	go func() {
		dm.waitErr = cmd.Wait()
		close(exited)
	}()
	if err := dm.waitReady(); err != nil {
		log := tail(dm.logPath, 40)
		dm.halt(discard)
		return fmt.Errorf("%w\ndockerd log, last lines:\n%s", err, log)
	}
	return nil
}

func (dm *daemon) waitReady() error {
	deadline := time.Now().Add(startTimeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-dm.exited:
			return fmt.Errorf("dockerd exited during start-up: %v", dm.waitErr)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cmd := exec.CommandContext(ctx, dockerCLI(), "version", "--format", "{{.Server.Version}}")
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+dm.host())
		out, err := cmd.CombinedOutput()
		cancel()
		if err == nil {
			return nil
		}
		last = strings.TrimSpace(string(out))
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("dockerd did not answer `docker version` within %v (last answer: %s)", startTimeout, last)
}

// restart halts dockerd and starts it again on the same folder, with extra
// flags in place of those it had.
func (dm *daemon) restart(log logf, extra ...string) error {
	if err := dm.halt(log); err != nil {
		return err
	}
	return dm.start(extra...)
}

// halt ends dockerd (SIGTERM, then SIGKILL after stopTimeout) and whatever
// processes of this engine outlived it. It does nothing while halted.
func (dm *daemon) halt(log logf) error {
	if dm.cmd == nil {
		return nil
	}
	var err error
	dm.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-dm.exited:
	case <-time.After(stopTimeout):
		err = fmt.Errorf("dockerd did not exit within %v of SIGTERM; killed", stopTimeout)
		dm.cmd.Process.Kill()
		<-dm.exited
		killPidFile(filepath.Join(dm.dir, "exec", "containerd", "containerd.pid"))
	}
	dm.cmd = nil
	killShims(dm.containerdSocket(), log)
	return err
}

// stop halts dockerd, detaches whatever it left mounted under its folder
// and removes the folder.
func (dm *daemon) stop(log logf) error {
	errs := []error{dm.halt(log)}
	if err := unmountUnder(dm.dir); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(dm.dir); err != nil {
		errs = append(errs, fmt.Errorf("removing the dockerd folder: %w", err))
	}
	return errors.Join(errs...)
}

// unmountUnder lazily detaches every mount below dir, deepest first
// (overlay layers, shm, netns files a killed dockerd leaves behind).
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
			points = append(points, fields[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}
