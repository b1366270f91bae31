package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/internal/bufpool"
	"github.com/s3vol/s3vol/internal/reexec"
	"github.com/s3vol/s3vol/s3fs"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/s3store"
)

// The filesystem runs as the daemon runs it: alone in a process of its own,
// under the Go soft memory limit the daemon sets. Measured in the bench's
// own process instead, the clients' system calls into the mount hold the
// Go scheduler's processors that the filesystem needs to answer them, the
// clients' garbage is collected on the filesystem's time, and the peak
// RSS counts the clients' buffers. So the bench starts itself again as a
// mount process for every fresh mount (the spec in an environment
// variable, which keeps the keys out of the process list).
//
// The mount process says "ready" on stdout once mounted, answers each
// "counts" line on stdin with its store requests so far (one JSON line),
// and unmounts and exits when stdin closes.

// mountProcEnv carries the mount process's spec, as JSON.
const mountProcEnv = "S3VOL_BENCH_MOUNT_PROCESS"

// mountSpec is what a mount process mounts, and how.
type mountSpec struct {
	Endpoint, Bucket, Region, AccessKey, SecretKey string

	Dir, CacheDir string
	Memory        int64 // the memory budget
	GoMemLimit    int64 // the runtime's soft memory limit; 0 for none
	MetadataTTL   time.Duration
	CPUProfile    string // profile the process into this file, if set
	HeapProfile   string // write its heap profile here at exit, if set
	Verbose       bool   // log warnings, not only errors
}

// runMountProcessIfAsked serves a mount and exits when this process was
// started as a mount process; it returns at once otherwise.
func runMountProcessIfAsked() {
	reexec.RunChildIfAsked(mountProcEnv, "bench mount process", serveMount)
}

// serveMount mounts spec and serves until stdin closes or a signal comes.
func serveMount(spec mountSpec) (err error) {
	if spec.GoMemLimit > 0 {
		debug.SetMemoryLimit(spec.GoMemLimit)
	}
	logrus.SetLevel(logrus.ErrorLevel)
	if spec.Verbose {
		logrus.SetLevel(logrus.WarnLevel)
	}
	stopProfile, err := startCPUProfile(spec.CPUProfile)
	if err != nil {
		return err
	}
	defer stopProfile()
	defer func() {
		if herr := writeHeapProfile(spec.HeapProfile); err == nil {
			err = herr
		}
	}()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s3, err := s3store.New(ctx, s3store.Config{Endpoint: spec.Endpoint, Bucket: spec.Bucket, Region: spec.Region,
		Lookup: s3store.LookupPath, AccessKey: spec.AccessKey, SecretKey: spec.SecretKey})
	if err != nil {
		return fmt.Errorf("opening the bucket: %w", err)
	}
	st := store.NewMetered(s3)
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
	reexec.Ready()
	go reexec.Answer(map[string]func() any{"counts": func() any { return st.Snapshot() }}, stop)
	<-ctx.Done()
	uctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return m.Unmount(uctx)
}

// mountProc is a running mount process, seen from the bench.
type mountProc struct{ *reexec.Child }

// startMountProc starts a mount process for spec and waits until it has
// mounted.
func startMountProc(ctx context.Context, spec mountSpec) (*mountProc, error) {
	c, err := reexec.Start(ctx, mountProcEnv, "the mount process", spec)
	if err != nil {
		return nil, err
	}
	return &mountProc{c}, nil
}

// counts asks the mount process for its store requests so far.
func (p *mountProc) counts() (map[string]int64, error) {
	var c map[string]int64
	return c, p.Ask("counts", &c, time.Minute)
}

// stop unmounts and ends the mount process, killing it if it hangs.
func (p *mountProc) stop() error { return p.Stop() }

// resetPeakRSS resets the kernel's peak RSS (VmHWM) of the process to its
// current RSS, so the next peakRSS covers only what follows.
func (p *mountProc) resetPeakRSS() error {
	path := filepath.Join("/proc", strconv.Itoa(p.Pid()), "clear_refs")
	if err := os.WriteFile(path, []byte("5"), 0); err != nil {
		return fmt.Errorf("resetting the peak RSS: %w", err)
	}
	return nil
}

// peakRSS reads the process's peak resident set size (VmHWM) in bytes.
func (p *mountProc) peakRSS() (int64, error) {
	path := filepath.Join("/proc", strconv.Itoa(p.Pid()), "status")
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
