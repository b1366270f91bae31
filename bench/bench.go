package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/s3vol/s3vol/store"
)

// bench holds what every workload shares: the raw store, the mount process
// and how to start a new one.
type bench struct {
	ctx    context.Context
	sz     sizes
	raw    *store.Metered
	work   string
	memory int64
	rep    *report

	// mountSpec mounts the bucket at the bench's mountpoint; its profile
	// paths, when set, get a suffix per mount process.
	mountSpec mountSpec
	mounts    int        // mount processes started so far
	proc      *mountProc // the mount process, while mounted
}

// Raw-side transfer shape: the same part size and parallelism the
// filesystem uses by default, so both sides move data the same way.
const (
	rawChunk       = 8 << 20
	rawParallelism = 4
)

// mount gives a fresh mount of the whole bucket: a new mount process, with
// empty caches.
func (b *bench) mount() error {
	b.unmount()
	spec := b.mountSpec
	spec.Dir = b.mountDir()
	spec.CacheDir = filepath.Join(b.work, "cache")
	if err := os.MkdirAll(spec.Dir, 0o755); err != nil {
		return fmt.Errorf("creating the mountpoint: %w", err)
	}
	b.mounts++
	for _, p := range []*string{&spec.CPUProfile, &spec.HeapProfile} {
		if *p != "" {
			*p += fmt.Sprintf(".mount%d", b.mounts)
		}
	}
	proc, err := startMountProc(b.ctx, spec)
	if err != nil {
		return err
	}
	b.proc = proc
	return nil
}

func (b *bench) unmount() {
	if b.proc == nil {
		return
	}
	if err := b.proc.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "bench: unmount:", err)
	}
	b.proc = nil
}

// mountDir is where the bench mounts the bucket.
func (b *bench) mountDir() string { return filepath.Join(b.work, "mnt") }

// path is key's path in the mount.
func (b *bench) path(key string) string { return filepath.Join(b.mountDir(), filepath.FromSlash(key)) }

// counted runs fn and returns the store requests the mount made meanwhile.
func (b *bench) counted(fn func() error) (map[string]int64, error) {
	before, err := b.proc.counts()
	if err != nil {
		return nil, err
	}
	err = fn()
	after, cerr := b.proc.counts()
	if cerr != nil {
		return nil, errors.Join(err, cerr)
	}
	for k := range after {
		after[k] -= before[k]
	}
	return after, err
}

// ---- data ------------------------------------------------------------------

// pattern is 1 MiB of random bytes that the bench's objects repeat: cheap to
// produce, and incompressible so no layer can cheat.
var pattern = func() []byte {
	b := make([]byte, 1<<20)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}()

// patternReader yields n bytes of the repeated pattern.
type patternReader struct{ off, n int64 }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	i := r.off % int64(len(pattern))
	c := copy(p, pattern[i:])
	if rest := r.n - r.off; int64(c) > rest {
		c = int(rest)
	}
	r.off += int64(c)
	return c, nil
}

// putObject stores key with n bytes of the pattern through the raw store.
func (b *bench) putObject(key string, n int64) error {
	if _, err := b.raw.Put(b.ctx, key, &patternReader{n: n}, n, store.PutOptions{}); err != nil {
		return fmt.Errorf("creating %s (%d bytes): %w", key, n, err)
	}
	return nil
}

// putMany stores count small objects named by name(i), 32 at a time.
func (b *bench) putMany(count int, name func(int) string, size int) error {
	return parallel(32, count, func(i int) error {
		_, err := b.raw.Put(b.ctx, name(i), &patternReader{n: int64(size)}, int64(size), store.PutOptions{})
		return err
	})
}

// ---- helpers ---------------------------------------------------------------

// parallel runs fn(0..n-1) on workers goroutines and returns the first error.
func parallel(workers, n int, fn func(i int) error) error {
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil || i >= n
				mu.Unlock()
				if stop {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// dropCaches empties the kernel's page cache, so reads through the mount
// start cold.
func dropCaches() error {
	unix.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0); err != nil {
		return fmt.Errorf("dropping the page cache: %w", err)
	}
	return nil
}

// latencies collects per-operation durations.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// pct returns the p-th percentile in milliseconds.
func (l *latencies) pct(p float64) float64 {
	if len(l.d) == 0 {
		return 0
	}
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	i := int(p / 100 * float64(len(l.d)-1))
	return ms(l.d[i])
}

func (l *latencies) mean() float64 {
	if len(l.d) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range l.d {
		sum += d
	}
	return ms(sum / time.Duration(len(l.d)))
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mbps(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }

// timed runs fn and returns how long it took.
func timed(fn func() error) (time.Duration, error) {
	start := time.Now()
	err := fn()
	return time.Since(start), err
}

// runCmd runs a command with its output discarded, bounded by ctx.
func (b *bench) runCmd(name string, args ...string) error {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return nil
}
