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
	"strconv"
	"strings"
	"syscall"
	"time"
)

// How long the harness waits for dockerd to answer, and to exit.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 45 * time.Second
)

// daemon is a private dockerd whose every file lives under dir.
type daemon struct {
	dir     string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the process has exited
	waitErr error
}

func (dm *daemon) socket() string { return filepath.Join(dm.dir, "docker.sock") }
func (dm *daemon) host() string   { return "unix://" + dm.socket() }

// startDaemon starts dockerd, with extra flags, and waits until `docker
// version` answers.
func startDaemon(extra ...string) (*daemon, error) {
	dir, err := os.MkdirTemp("", "s3vol-dockerd-")
	if err != nil {
		return nil, fmt.Errorf("creating the dockerd folder: %w", err)
	}
	dm := &daemon{dir: dir, logPath: filepath.Join(dir, "dockerd.log"), exited: make(chan struct{})}
	// An empty config file keeps the host's /etc/docker/daemon.json out.
	config := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(config, []byte("{}\n"), 0o644); err != nil {
		return nil, fmt.Errorf("writing %s: %w", config, err)
	}
	logf, err := os.Create(dm.logPath)
	if err != nil {
		return nil, fmt.Errorf("creating the dockerd log: %w", err)
	}
	defer logf.Close()
	args := []string{
		"--config-file", config,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "docker.pid"),
		"-H", dm.host(),
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
		"--shutdown-timeout=5",
	}
	dm.cmd = exec.Command("dockerd", append(args, extra...)...)
	dm.cmd.Stdout, dm.cmd.Stderr = logf, logf
	// If the test binary dies, dockerd must not outlive it.
	dm.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := dm.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting dockerd: %w", err)
	}
	go func() {
		dm.waitErr = dm.cmd.Wait()
		close(dm.exited)
	}()
	if err := dm.waitReady(); err != nil {
		log := tail(dm.logPath, 40)
		dm.stop()
		return nil, fmt.Errorf("%w\ndockerd log, last lines:\n%s", err, log)
	}
	return dm, nil
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

// stop ends dockerd (SIGTERM, then SIGKILL after stopTimeout), detaches
// whatever it left mounted under its folder and removes the folder.
func (dm *daemon) stop() error {
	var errs []error
	if dm.cmd.Process != nil {
		dm.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-dm.exited:
		case <-time.After(stopTimeout):
			errs = append(errs, fmt.Errorf("dockerd did not exit within %v of SIGTERM; killed", stopTimeout))
			dm.cmd.Process.Kill()
			<-dm.exited
			killPidFile(filepath.Join(dm.dir, "exec", "containerd", "containerd.pid"))
		}
	}
	if err := unmountUnder(dm.dir); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(dm.dir); err != nil {
		errs = append(errs, fmt.Errorf("removing the dockerd folder: %w", err))
	}
	return errors.Join(errs...)
}

func killPidFile(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
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
