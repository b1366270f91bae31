package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/internal/bufpool"
	"github.com/s3vol/s3vol/s3fs"
	"github.com/s3vol/s3vol/store/s3store"
)

// The memory workload measures the filesystem as the daemon runs it: alone
// in its process, under the Go soft memory limit the daemon sets. The bench
// starts itself again as a mount process (the spec in an environment
// variable, so the keys stay out of the process list); the workload's
// readers and writers stay in the bench, and their buffers are not counted.

// mountProcEnv carries the mount process's spec, as JSON.
const mountProcEnv = "S3VOL_BENCH_MOUNT_PROCESS"

// mountSpec is what the mount process mounts.
type mountSpec struct {
	Endpoint, Bucket, Region, AccessKey, SecretKey string

	Dir, CacheDir string
	Memory        int64
	MetadataTTL   time.Duration
}

// runMountProcessIfAsked serves a mount and exits when this process was
// started as a mount process; it returns at once otherwise.
func runMountProcessIfAsked() {
	v := os.Getenv(mountProcEnv)
	if v == "" {
		return
	}
	var spec mountSpec
	if err := json.Unmarshal([]byte(v), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "bench mount process: decoding %s: %v\n", mountProcEnv, err)
		os.Exit(2)
	}
	if err := serveMount(spec); err != nil {
		fmt.Fprintln(os.Stderr, "bench mount process:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// serveMount mounts spec, says "ready" on stdout and serves until stdin
// closes or a signal comes, then unmounts.
func serveMount(spec mountSpec) error {
	debug.SetMemoryLimit(spec.Memory + bufpool.RuntimeMargin) // as the daemon does
	logrus.SetLevel(logrus.ErrorLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := s3store.New(ctx, s3store.Config{Endpoint: spec.Endpoint, Bucket: spec.Bucket, Region: spec.Region,
		Lookup: s3store.LookupPath, AccessKey: spec.AccessKey, SecretKey: spec.SecretKey})
	if err != nil {
		return fmt.Errorf("opening the bucket: %w", err)
	}
	m, err := s3fs.Mount(spec.Dir, s3fs.Options{
		Store:       st,
		MetadataTTL: spec.MetadataTTL,
		CacheDir:    spec.CacheDir,
		Buffers:     bufpool.New(spec.Memory),
		Logger:      logrus.StandardLogger(),
	})
	if err != nil {
		return fmt.Errorf("mounting: %w", err)
	}
	fmt.Println("ready")
	go func() {
		io.Copy(io.Discard, os.Stdin) // the bench closes stdin to stop us
		stop()
	}()
	<-ctx.Done()
	uctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return m.Unmount(uctx)
}

// mountProc is a running mount process, seen from the bench.
type mountProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error
}

// startMountProc starts a mount process for spec and waits until it has
// mounted.
func startMountProc(ctx context.Context, spec mountSpec) (*mountProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the bench's own binary: %w", err)
	}
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), mountProcEnv+"="+string(js))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the mount process: %w", err)
	}
	p := &mountProc{cmd: cmd, stdin: stdin, done: make(chan error, 1)}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		ready <- sc.Scan() && sc.Text() == "ready"
		io.Copy(io.Discard, stdout)
		p.done <- cmd.Wait()
	}()
	select {
	case ok := <-ready:
		if ok {
			return p, nil
		}
		return nil, fmt.Errorf("the mount process failed to mount: %w", <-p.done)
	case <-time.After(time.Minute):
	case <-ctx.Done():
	}
	cmd.Process.Kill()
	return nil, fmt.Errorf("the mount process did not mount %s within a minute", spec.Dir)
}

// stop unmounts and ends the mount process, killing it if it hangs.
func (p *mountProc) stop() error {
	p.stdin.Close()
	select {
	case err := <-p.done:
		return err
	case <-time.After(3 * time.Minute):
		p.cmd.Process.Kill()
		return errors.New("the mount process did not stop within 3 minutes; killed")
	}
}

// resetPeakRSS resets the kernel's peak RSS (VmHWM) of the process to its
// current RSS, so the next peakRSS covers only what follows.
func (p *mountProc) resetPeakRSS() error {
	path := filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "clear_refs")
	if err := os.WriteFile(path, []byte("5"), 0); err != nil {
		return fmt.Errorf("resetting the peak RSS: %w", err)
	}
	return nil
}

// peakRSS reads the process's peak resident set size (VmHWM) in bytes.
func (p *mountProc) peakRSS() (int64, error) {
	path := filepath.Join("/proc", strconv.Itoa(p.cmd.Process.Pid), "status")
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parsing VmHWM %q: %w", rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in %s", path)
}
