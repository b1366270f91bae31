// Package dockertest gives tests a real Docker engine: a private dockerd
// started once per test package (its own data root, exec root, pid file and
// socket, no bridge, no iptables), the docker CLI and docker-compose pointed at
// it, and a busybox image built locally with `docker import`, since no image
// can be pulled.
//
// Use it like miniotest:
//
//	func TestMain(m *testing.M) { os.Exit(dockertest.Main(m)) }
//
//	func TestX(t *testing.T) {
//		d := dockertest.Shared(t)
//		out := d.Must(t, "run", "--rm", "--network", "none", d.Image, "echo", "hi")
//	}
//
// The tests run in a mount namespace of their own (see Isolate), so the
// plugin sockets they serve in /run/docker/plugins reach only their
// engines, never the host's Docker.
//
// Private and PrivateWith give a test an engine of its own (a second Docker
// host, or one with other dockerd flags), stopped when the test ends;
// Restart starts such an engine again with other flags on the same data.
//
// With S3VOL_TEST_DOCKER_HOST set (e.g. unix:///var/run/docker.sock), the
// tests use that engine instead of starting one.
package dockertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/testenv"
)

// ImageName is the tag of the busybox image the harness builds.
const ImageName = "s3vol-test-busybox"

// CommandTimeout bounds every docker and docker-compose command a test runs.
const CommandTimeout = 2 * time.Minute

// Docker is a Docker engine the tests talk to.
type Docker struct {
	// Host is the DOCKER_HOST value, e.g. unix:///tmp/x/docker.sock.
	Host string
	// Image is the tag of the local busybox image (ImageName).
	Image string

	daemon  *daemon // nil when the engine is an external one
	private bool    // started by Private or PrivateWith, for one test
}

var shared struct {
	once sync.Once
	d    *Docker
	err  error
}

// Shared returns the package's engine, starting it on first use. It skips (or
// fails under CI=true) when the machine cannot run dockerd, and fails the
// test when the engine does not come up.
func Shared(t testing.TB) *Docker {
	t.Helper()
	external := os.Getenv("S3VOL_TEST_DOCKER_HOST")
	if external == "" {
		testenv.NeedRoot(t)
		testenv.NeedCommand(t, "dockerd", "docker.io")
		needIsolated(t)
	}
	testenv.NeedCommand(t, dockerCLI(), "docker.io")
	shared.once.Do(func() {
		shared.d, shared.err = start(external)
	})
	if shared.err != nil {
		t.Fatalf("dockertest: %v", shared.err)
	}
	d := shared.d
	t.Cleanup(func() {
		if t.Failed() && d.daemon != nil {
			t.Logf("dockerd log (%s), last lines:\n%s", d.daemon.logPath, tail(d.daemon.logPath, 40))
		}
	})
	return d
}

// Private starts an engine of the test's own, stopped when the test ends:
// for tests that need two Docker hosts. It skips like Shared; it is
// unavailable (skips) when S3VOL_TEST_DOCKER_HOST points at an external
// engine, since a second external engine cannot be had.
func Private(t testing.TB) *Docker {
	t.Helper()
	return PrivateWith(t)
}

// PrivateWith is Private with extra dockerd flags, e.g.
// --authorization-plugin=NAME.
func PrivateWith(t testing.TB, dockerdArgs ...string) *Docker {
	t.Helper()
	if os.Getenv("S3VOL_TEST_DOCKER_HOST") != "" {
		t.Skip("needs a second Docker engine, which the harness cannot start while S3VOL_TEST_DOCKER_HOST is set")
	}
	testenv.NeedRoot(t)
	testenv.NeedCommand(t, "dockerd", "docker.io")
	testenv.NeedCommand(t, dockerCLI(), "docker.io")
	needIsolated(t)
	d, err := start("", dockerdArgs...)
	if err != nil {
		t.Fatalf("dockertest: %v", err)
	}
	d.private = true
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("private dockerd log (%s), last lines:\n%s", d.daemon.logPath, tail(d.daemon.logPath, 40))
		}
		if err := d.daemon.stop(t.Logf); err != nil {
			t.Errorf("dockertest: stopping the private engine: %v", err)
		}
	})
	return d
}

// Main runs the package's tests in a private mount namespace (Isolate)
// and then stops the engine Shared started, so no dockerd outlives the
// test binary. Use it as os.Exit(dockertest.Main(m)).
func Main(m *testing.M) int {
	Isolate()
	code := m.Run()
	if err := Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "dockertest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Stop stops the shared engine if this package started one, and removes
// the empty plugin folders Isolate had to create. Main calls it; a
// TestMain that has more to tear down after the engine can call it itself.
func Stop() error {
	defer releasePluginDirs()
	if shared.d == nil || shared.d.daemon == nil {
		return nil
	}
	err := shared.d.daemon.stop(func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "dockertest: "+format+"\n", args...)
	})
	shared.d.daemon = nil
	return err
}

// needIsolated skips (or fails under CI) a test that would start an engine
// in the host's mount namespace, where its plugins would reach the host's
// Docker.
func needIsolated(t testing.TB) {
	t.Helper()
	testenv.Need(t, isolated, "the engines run only in a private mount namespace: call dockertest.Main(m) or dockertest.Isolate() first in TestMain (needs root and unshare from util-linux)")
}

// Restart stops a private engine and starts it again on the same data root,
// with dockerdArgs in place of the flags it was started with: its images,
// volumes and stopped containers stay. It fails the test on an engine that
// Private or PrivateWith did not start, since other tests share the rest.
func (d *Docker) Restart(t testing.TB, dockerdArgs ...string) {
	t.Helper()
	if !d.private {
		t.Fatal("dockertest: Restart needs an engine of Private or PrivateWith")
	}
	if err := d.daemon.restart(t.Logf, dockerdArgs...); err != nil {
		t.Fatalf("dockertest: restarting the private engine: %v", err)
	}
}

// Reload makes dockerd reload its configuration file (SIGHUP), as
// `systemctl reload docker` does. dockerd applies it asynchronously.
func (d *Docker) Reload(t testing.TB) {
	t.Helper()
	if d.daemon == nil || d.daemon.cmd == nil {
		t.Fatal("dockertest: Reload needs a running engine that the harness started")
	}
	if err := d.daemon.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("dockertest: asking dockerd to reload: %v", err)
	}
}

// Socket is the path of the engine's unix socket, for clients other than
// the docker CLI; it is empty when Host is not a unix socket.
func (d *Docker) Socket() string {
	if sock, ok := strings.CutPrefix(d.Host, "unix://"); ok {
		return sock
	}
	return ""
}

// LogPath is the file dockerd logs to, which also holds what managed
// plugins print; it is empty for an external engine.
func (d *Docker) LogPath() string {
	if d.daemon == nil {
		return ""
	}
	return d.daemon.logPath
}

func start(external string, dockerdArgs ...string) (*Docker, error) {
	d := &Docker{Host: external, Image: ImageName}
	if external == "" {
		dm, err := startDaemon(dockerdArgs...)
		if err != nil {
			return nil, err
		}
		d.daemon, d.Host = dm, dm.host()
	}
	if err := d.buildImage(); err != nil {
		if d.daemon != nil {
			d.daemon.stop(discard)
		}
		return nil, err
	}
	return d, nil
}

// Run runs the docker CLI with args against the engine and returns its
// stdout and stderr; err is non-nil when the command failed or timed out.
func (d *Docker) Run(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return d.run(t, "", nil, dockerCLI(), args...)
}

// RunInput is Run with stdin fed from in.
func (d *Docker) RunInput(t testing.TB, in []byte, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return d.run(t, "", in, dockerCLI(), args...)
}

// Must runs the docker CLI and fails the test unless the command succeeds;
// it returns stdout with surrounding white space trimmed.
func (d *Docker) Must(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := d.Run(t, args...)
	if err != nil {
		t.Fatalf("docker %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return strings.TrimSpace(out)
}

// Compose runs docker-compose (v1) with args in dir against the engine.
func (d *Docker) Compose(t testing.TB, dir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	testenv.NeedCommand(t, composeCLI(), "docker-compose")
	return d.run(t, dir, nil, composeCLI(), args...)
}

// MustCompose runs docker-compose and fails the test unless it succeeds.
func (d *Docker) MustCompose(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, errOut, err := d.Compose(t, dir, args...)
	if err != nil {
		t.Fatalf("docker-compose %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return strings.TrimSpace(out)
}

func (d *Docker) run(t testing.TB, dir string, in []byte, name string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), CommandTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = d.Env()
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if in != nil {
		cmd.Stdin = bytes.NewReader(in)
	}
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("%s %s: timed out after %v: %w", name, strings.Join(args, " "), CommandTimeout, err)
	}
	t.Logf("$ %s %s%s [%v]", shortName(name), strings.Join(args, " "), outcome(err), time.Since(start).Round(time.Millisecond))
	return stdout.String(), stderr.String(), err
}

// Env is the process environment with DOCKER_HOST pointing at the engine,
// for commands a test runs itself.
func (d *Docker) Env() []string {
	env := []string{"DOCKER_HOST=" + d.Host}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_HOST=") && !strings.HasPrefix(kv, "DOCKER_CONTEXT=") {
			env = append(env, kv)
		}
	}
	return env
}

func outcome(err error) string {
	if err == nil {
		return ""
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Sprintf("  (exit %d)", exit.ExitCode())
	}
	return "  (" + err.Error() + ")"
}

func shortName(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[i+1:]
	}
	return path
}

// dockerCLI is the docker client: $S3VOL_TEST_DOCKER_CLI if set, else
// /usr/local/bin/docker when installed there (a newer CLI than Debian's),
// else docker on PATH.
func dockerCLI() string {
	if cli := os.Getenv("S3VOL_TEST_DOCKER_CLI"); cli != "" {
		return cli
	}
	return firstExecutable("/usr/local/bin/docker", "docker")
}

// composeCLI is docker-compose v1.
func composeCLI() string { return firstExecutable("/usr/bin/docker-compose", "docker-compose") }

func firstExecutable(path, name string) string {
	if st, err := os.Stat(path); err == nil && st.Mode()&0o111 != 0 {
		return path
	}
	return name
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
