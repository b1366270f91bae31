// Command bench measures s3vol's filesystem side by side with the raw object
// store, in the same run, and prints a table of both figures and their ratio
// (issue 4's workloads and targets). It writes the same table as JSON.
//
//	go run ./bench            # full run, under 10 minutes on 2 cores
//	go run ./bench -quick     # smaller sizes: checks the bench works, not the speed
//
// It starts its own MinIO (internal/miniotest), mounts s3fs over it in a
// process of its own, as the daemon runs it (root and /dev/fuse needed; see
// mountproc.go), and counts the store requests each workload makes through
// a store.Metered in that process.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/internal/bufpool"
	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/s3store"
)

// sizes are the workload sizes of a run.
type sizes struct {
	SeqBytes       int64         // workloads 1 and 2
	TTFBBytes      int64         // workload 3
	TTFBTrials     int           // workload 3
	RandomDuration time.Duration // workload 4, per thread count
	SmallFiles     int           // workload 5
	ListEntries    int           // workload 6, one directory
	TreeDirs       int           // workload 6, find: directories of the tree
	TreeFiles      int           // workload 6, find: files per directory
	MemFileBytes   int64         // workload 7: per file, 8 files at once
}

var fullSizes = sizes{
	SeqBytes: 1 << 30, TTFBBytes: 4 << 30, TTFBTrials: 40, RandomDuration: 10 * time.Second,
	SmallFiles: 1000, ListEntries: 10000, TreeDirs: 160, TreeFiles: 100, MemFileBytes: 256 << 20,
}

var quickSizes = sizes{
	SeqBytes: 64 << 20, TTFBBytes: 128 << 20, TTFBTrials: 10, RandomDuration: time.Second,
	SmallFiles: 100, ListEntries: 1000, TreeDirs: 16, TreeFiles: 100, MemFileBytes: 32 << 20,
}

func main() {
	runMountProcessIfAsked()
	quick := flag.Bool("quick", false, "small sizes and short durations: a smoke run")
	jsonPath := flag.String("json", "bench-results.json", "where to write the results as JSON (\"\" for none)")
	only := flag.String("only", "", "comma-separated workloads to run (seqread,seqwrite,ttfb,random,small,meta,memory); default all")
	memory := flag.Int64("memory", 256<<20, "the filesystem's memory budget in bytes")
	verbose := flag.Bool("v", false, "log the filesystem's warnings and errors")
	memLimit := flag.Int64("gomemlimit", -1, "the mount process's soft memory limit in bytes (debug.SetMemoryLimit); -1: the memory budget plus bufpool.RuntimeMargin, as the daemon runs; 0: none")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the bench (clients and raw side) to this file, and of each mount process to this file with a .mountN suffix")
	heapProfile := flag.String("memprofile", "", "write a heap profile of each mount process, as it exits, to this file with a .mountN suffix")
	flag.Parse()

	logrus.SetLevel(logrus.ErrorLevel)
	cfg := runConfig{sizes: fullSizes, quick: *quick, memory: *memory, goMemLimit: *memLimit,
		cpuProfile: *cpuProfile, heapProfile: *heapProfile, verbose: *verbose, want: selected(*only)}
	if *quick {
		cfg.sizes = quickSizes
	}
	if cfg.goMemLimit < 0 {
		cfg.goMemLimit = cfg.memory + bufpool.RuntimeMargin
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	rep, err := run(ctx, cfg)
	stopProfile()
	if rep != nil {
		rep.print(os.Stdout)
		if *jsonPath != "" {
			if werr := rep.writeJSON(*jsonPath); werr != nil {
				fmt.Fprintln(os.Stderr, "bench:", werr)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// runConfig is what a run measures and how.
type runConfig struct {
	sizes       sizes
	quick       bool
	memory      int64 // the filesystem's memory budget
	goMemLimit  int64 // the mount processes' soft memory limit; 0 for none
	cpuProfile  string
	heapProfile string
	verbose     bool // the mount processes log warnings too
	want        func(workload string) bool
}

func selected(only string) func(string) bool {
	if only == "" {
		return func(string) bool { return true }
	}
	want := map[string]bool{}
	for _, w := range strings.Split(only, ",") {
		want[strings.TrimSpace(w)] = true
	}
	return func(name string) bool { return want[name] }
}

// run sets up MinIO, the raw store and the mount, then runs each workload.
func run(ctx context.Context, cfg runConfig) (*report, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("the benchmark mounts FUSE and drops the page cache: run it as root")
	}
	work, err := os.MkdirTemp("", "s3vol-bench-")
	if err != nil {
		return nil, fmt.Errorf("creating the work folder: %w", err)
	}
	defer os.RemoveAll(work)

	fmt.Fprintln(os.Stderr, "bench: starting MinIO")
	minioDir := filepath.Join(work, "minio")
	if err := os.MkdirAll(minioDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating MinIO's folder: %w", err)
	}
	srv, err := miniotest.Start(ctx, minioDir)
	if err != nil {
		return nil, fmt.Errorf("starting MinIO: %w", err)
	}
	defer srv.Close()
	bucket := "bench"
	if err := createBucket(ctx, srv, bucket); err != nil {
		return nil, err
	}
	st, err := s3store.New(ctx, s3store.Config{Endpoint: srv.Endpoint, Bucket: bucket,
		Region: srv.Region, Lookup: s3store.LookupPath, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		return nil, fmt.Errorf("opening the bucket: %w", err)
	}

	b := &bench{ctx: ctx, sz: cfg.sizes, raw: store.NewMetered(st), work: work, memory: cfg.memory,
		rep: newReport(cfg.quick, cfg.memory),
		mountSpec: mountSpec{Endpoint: srv.Endpoint, Bucket: bucket, Region: srv.Region,
			AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Memory: cfg.memory, GoMemLimit: cfg.goMemLimit,
			MetadataTTL: time.Second, CPUProfile: cfg.cpuProfile, HeapProfile: cfg.heapProfile, Verbose: cfg.verbose}}
	b.rep.GoMemLimit = cfg.goMemLimit
	defer b.unmount()

	steps := []struct {
		name string
		fn   func() error
	}{
		{"seqread", b.seqRead},
		{"seqwrite", b.seqWrite},
		{"ttfb", b.firstByte},
		{"random", b.randomReads},
		{"small", b.smallFiles},
		{"meta", b.metadata},
		{"memory", b.memoryPeak},
	}
	for _, s := range steps {
		if !cfg.want(s.name) {
			continue
		}
		if err := ctx.Err(); err != nil {
			return b.rep, err
		}
		fmt.Fprintf(os.Stderr, "bench: %s\n", s.name)
		start := time.Now()
		if err := s.fn(); err != nil {
			return b.rep, fmt.Errorf("workload %s: %w", s.name, err)
		}
		fmt.Fprintf(os.Stderr, "bench: %s done in %s\n", s.name, time.Since(start).Round(time.Millisecond))
	}
	return b.rep, nil
}

func createBucket(ctx context.Context, srv *miniotest.Server, bucket string) error {
	c, err := srv.Client()
	if err != nil {
		return fmt.Errorf("MinIO client: %w", err)
	}
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: srv.Region}); err != nil {
		return fmt.Errorf("creating bucket %q: %w", bucket, err)
	}
	return nil
}

// machine describes where the bench ran, for the report.
func machine() map[string]string {
	m := map[string]string{
		"cores": fmt.Sprint(runtime.NumCPU()),
		"go":    runtime.Version(),
		"os":    runtime.GOOS + "/" + runtime.GOARCH,
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if line, _, ok := strings.Cut(string(b), "\n"); ok {
			m["memory"] = strings.Join(strings.Fields(line)[1:], " ")
		}
	}
	return m
}

func (r *report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the results: %w", err)
	}
	fmt.Fprintf(os.Stderr, "bench: results written to %s\n", path)
	return nil
}
