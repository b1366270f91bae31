package authz

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

// The e2e test needs a dockerd started with --authorization-plugin, which
// internal/dockertest's shared engine does not take, so it starts its own
// here and hands its socket to dockertest (S3VOL_TEST_DOCKER_HOST) for the
// image and the CLI runners.

const (
	dockerdStartTimeout = 60 * time.Second
	dockerdStopTimeout  = 45 * time.Second
)

// dockerd is a private engine whose files all live under dir; it can be
// stopped and started again on the same data.
type dockerd struct {
	dir    string
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // Wait's result, once exited is closed
}

func newDockerd() (*dockerd, error) {
	dir, err := os.MkdirTemp("", "s3vol-authz-dockerd-")
	if err != nil {
		return nil, fmt.Errorf("creating the dockerd folder: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte("{}\n"), 0o644); err != nil {
		return nil, fmt.Errorf("writing daemon.json: %w", err)
	}
	return &dockerd{dir: dir}, nil
}

func (d *dockerd) socket() string  { return filepath.Join(d.dir, "docker.sock") }
func (d *dockerd) host() string    { return "unix://" + d.socket() }
func (d *dockerd) logPath() string { return filepath.Join(d.dir, "dockerd.log") }

// start starts dockerd with extra flags and waits until it answers.
func (d *dockerd) start(extra ...string) error {
	logf, err := os.OpenFile(d.logPath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("opening the dockerd log: %w", err)
	}
	defer logf.Close()
	args := append([]string{
		"--config-file", filepath.Join(d.dir, "daemon.json"), // keeps the host's daemon.json out
		"--data-root", filepath.Join(d.dir, "data"),
		"--exec-root", filepath.Join(d.dir, "exec"),
		"--pidfile", filepath.Join(d.dir, "docker.pid"),
		"-H", d.host(),
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
		"--shutdown-timeout=5",
	}, extra...)
	d.cmd = exec.Command("dockerd", args...)
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // never outlive the test binary
	if err := d.cmd.Start(); err != nil {
		return fmt.Errorf("starting dockerd: %w", err)
	}
	d.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		d.err = cmd.Wait()
		close(exited)
	}(d.cmd, d.exited)
	if err := d.waitReady(); err != nil {
		d.stop()
		return fmt.Errorf("%w\ndockerd log, last lines:\n%s", err, d.logTail(30))
	}
	return nil
}

func (d *dockerd) waitReady() error {
	deadline := time.Now().Add(dockerdStartTimeout)
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-d.exited:
			return fmt.Errorf("dockerd exited during start-up: %v", d.err)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, dockerCLI(), "-H", d.host(), "version", "--format", "{{.Server.Version}}").CombinedOutput()
		cancel()
		if err == nil {
			return nil
		}
		last = strings.TrimSpace(string(out))
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("dockerd did not answer within %v (last answer: %s)", dockerdStartTimeout, last)
}

// stop ends dockerd: SIGTERM, then SIGKILL after dockerdStopTimeout.
func (d *dockerd) stop() error {
	if d.cmd == nil || d.cmd.Process == nil {
		return nil
	}
	defer func() { d.cmd = nil }()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return nil
	case <-time.After(dockerdStopTimeout):
		d.cmd.Process.Kill()
		<-d.exited
		return fmt.Errorf("dockerd did not exit within %v of SIGTERM; killed", dockerdStopTimeout)
	}
}

// remove stops dockerd, detaches what it left mounted and deletes its folder.
func (d *dockerd) remove() error {
	errs := []error{d.stop(), unmountUnder(d.dir)}
	if err := os.RemoveAll(d.dir); err != nil {
		errs = append(errs, fmt.Errorf("removing the dockerd folder: %w", err))
	}
	return errors.Join(errs...)
}

func (d *dockerd) logTail(n int) string {
	b, err := os.ReadFile(d.logPath())
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// unmountUnder lazily detaches every mount below dir, deepest first.
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && strings.HasPrefix(fields[4], dir+"/") {
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

// dockerCLI prefers /usr/local/bin/docker (newer than Debian's), as
// dockertest does.
func dockerCLI() string {
	if st, err := os.Stat("/usr/local/bin/docker"); err == nil && st.Mode()&0o111 != 0 {
		return "/usr/local/bin/docker"
	}
	return "docker"
}
