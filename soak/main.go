// Command soak is s3vol's chaos soak: random file operations through a real
// FUSE mount (create, write, append, overwrite, truncate, fsync, close,
// rename, unlink, mkdir, rmdir, readdir, read back), checked against a
// model of what must be true, while a fault store inside the mount's
// process fails, delays and hangs a share of the store calls and the
// process is killed (SIGKILL) and restarted at random points.
//
// It runs for a bounded time (-duration) and prints the operations done,
// the faults injected, the kills, any mismatch (there must be none) and
// the seed, from which it replays: the same seed makes the same sequence
// of operations and the same fault decisions (the store calls made in the
// background, and so which of them a fault hits, depend on timing).
//
//	make soak                                   # a few minutes, a random seed
//	make soak SOAK_SEED=42 SOAK_DURATION=10m    # replay seed 42 for 10 minutes
//
// A call that fails may or may not have happened: the model keeps both
// outcomes until a look at the name settles them. A change that a
// successful close or fsync acknowledged must survive every kill.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/s3vol/s3vol/internal/miniotest"
)

func main() {
	runDaemonIfAsked()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

type config struct {
	seed       int64
	duration   time.Duration
	rate       float64
	killEvery  time.Duration
	opTimeout  time.Duration
	storeKind  string
	workDir    string
	keepFolder bool
}

func parseFlags() config {
	var c config
	flag.Int64Var(&c.seed, "seed", 0, "seed of the run (0 = a random one, printed)")
	flag.DurationVar(&c.duration, "duration", 3*time.Minute, "how long to run")
	flag.Float64Var(&c.rate, "rate", 0.02, "share of store calls that get a fault (at least 0.01 for the issue's bar)")
	flag.DurationVar(&c.killEvery, "kill-every", time.Minute, "one kill of the mount process at a random moment in every such interval of the run (0 = never)")
	flag.DurationVar(&c.opTimeout, "op-timeout", 2*time.Second, "the mount's OpTimeout (hung store calls end after it)")
	flag.StringVar(&c.storeKind, "store", "minio", "store: minio (a MinIO of its own) or local")
	flag.StringVar(&c.workDir, "dir", "", "work folder (default: a new temporary one, removed at the end unless the run failed)")
	flag.Parse()
	if c.seed == 0 {
		c.seed = time.Now().UnixNano() % 1_000_000_007
	}
	return c
}

// soak is one run.
type soak struct {
	cfg        config
	rng        *rand.Rand
	m          *model
	dir        string // the mountpoint
	spec       daemonSpec
	d          *daemon
	fixedDirs  []string
	stallLimit time.Duration
	start      time.Time // when the operations began; kill i is due inside [start+(i-1)*killEvery, start+i*killEvery)
	nextKill   time.Time
	logFile    *os.File
	direct     *minio.Client // reads the store around the daemon, to tell a wrong view from a wrong store
	recent     []string      // the last operations, for mismatch reports

	ops, syscalls, kills, stalls, readErrors int
	calls, injected                          int64
	mismatches                               []string
}

func run() error {
	cfg := parseFlags()
	work := cfg.workDir
	if work == "" {
		var err error
		if work, err = os.MkdirTemp("", "s3vol-soak-"); err != nil {
			return err
		}
	}
	s := &soak{cfg: cfg, rng: rand.New(rand.NewPCG(uint64(cfg.seed), 0x50a4)),
		dir: filepath.Join(work, "mnt"), fixedDirs: []string{"d0", "d1"},
		stallLimit: 3*cfg.opTimeout + 30*time.Second}
	for _, d := range []string{s.dir, filepath.Join(work, "cache"), filepath.Join(work, "minio")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	var err error
	if s.logFile, err = os.Create(filepath.Join(work, "soak.log")); err != nil {
		return err
	}
	defer s.logFile.Close()
	fmt.Printf("soak: seed %d, %v, fault rate %.3f, a kill every ~%v, store %s; log %s\n",
		cfg.seed, cfg.duration, cfg.rate, cfg.killEvery, cfg.storeKind, s.logFile.Name())
	stopStore, err := s.setUpStore(work)
	if err != nil {
		return err
	}
	defer stopStore()
	s.spec.Dir, s.spec.CacheDir = s.dir, filepath.Join(work, "cache")
	s.spec.Rate, s.spec.OpTimeout, s.spec.LogFile = cfg.rate, cfg.opTimeout, filepath.Join(work, "daemon.log")
	if err := s.loop(); err != nil {
		return err
	}
	s.report()
	if len(s.mismatches) > 0 || s.stalls > 0 {
		return fmt.Errorf("%d mismatches, %d stalled calls (seed %d; details in %s)", len(s.mismatches), s.stalls, cfg.seed, s.logFile.Name())
	}
	if cfg.workDir == "" {
		os.RemoveAll(work)
	}
	return nil
}

// setUpStore starts the store the daemons use and returns its stop.
func (s *soak) setUpStore(work string) (func(), error) {
	if s.cfg.storeKind == "local" {
		s.spec.LocalStore = filepath.Join(work, "store")
		return func() {}, nil
	}
	if s.cfg.storeKind != "minio" {
		return nil, fmt.Errorf("-store %q is not accepted; use minio or local", s.cfg.storeKind)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute) // includes a first build
	defer cancel()
	srv, err := miniotest.Start(ctx, filepath.Join(work, "minio"))
	if err != nil {
		return nil, err
	}
	c, err := srv.Client()
	if err != nil {
		srv.Close()
		return nil, err
	}
	if err := c.MakeBucket(ctx, "soak", minio.MakeBucketOptions{Region: srv.Region}); err != nil {
		srv.Close()
		return nil, fmt.Errorf("creating the bucket: %w", err)
	}
	s.direct = c
	s.spec.Endpoint, s.spec.Bucket, s.spec.Region = srv.URL(), "soak", srv.Region
	s.spec.AccessKey, s.spec.SecretKey = srv.AccessKey, srv.SecretKey
	return func() { srv.Close() }, nil
}

// names are the files and folders the operations pick from: few, so that
// they collide (renames onto existing files, re-creates of removed ones).
func (s *soak) names() (files, extraDirs []string) {
	for _, dir := range append([]string{""}, s.fixedDirs...) {
		for i := range 8 {
			files = append(files, filepath.Join(dir, fmt.Sprintf("f%d", i)))
		}
	}
	return files, []string{"x0", "x1", "x2"}
}

func (s *soak) loop() error {
	if err := s.startDaemon(); err != nil {
		return err
	}
	if err := s.makeFixedDirs(); err != nil {
		return err
	}
	files, extraDirs := s.names()
	s.m = newModel(append(slicesConcat(files, extraDirs), s.fixedDirs...))
	for _, d := range s.fixedDirs {
		s.m.set(d, states{{dir: true}})
	}
	s.start = time.Now()
	end := s.start.Add(s.cfg.duration)
	s.scheduleKill()
	for time.Now().Before(end) {
		s.ops++
		switch r := s.rng.IntN(100); {
		case r < 45:
			s.modify(files[s.rng.IntN(len(files))])
		case r < 63:
			s.read(files[s.rng.IntN(len(files))])
		case r < 73:
			s.rename(files[s.rng.IntN(len(files))], files[s.rng.IntN(len(files))])
		case r < 81:
			s.unlink(files[s.rng.IntN(len(files))])
		case r < 90:
			s.readdir(pick(s, "", "d0", "d1"))
		default:
			s.mkdirOrRmdir(extraDirs[s.rng.IntN(len(extraDirs))])
		}
		s.maybeKill()
	}
	// A clean stop flushes what the daemon holds; a daemon without faults
	// then shows what the store holds, which must match the model.
	s.addCounts()
	if err := s.d.stop(s.dir); err != nil {
		s.logf("the last daemon's clean stop: %v", err)
	}
	rate := s.spec.Rate
	s.spec.Rate = 0
	if err := s.startDaemon(); err != nil {
		return err
	}
	s.verifyAll("at the end, through a daemon without faults")
	s.spec.Rate = rate
	return s.d.stop(s.dir)
}

// makeFixedDirs creates the folders files live in (mkdir fails with the
// injected faults too, so it is retried).
func (s *soak) makeFixedDirs() error {
	for _, d := range s.fixedDirs {
		var err error
		for range 20 {
			if err = os.Mkdir(filepath.Join(s.dir, d), 0o755); err == nil || os.IsExist(err) {
				err = nil
				break
			}
		}
		if err != nil {
			return fmt.Errorf("creating the folder %s: %w", d, err)
		}
	}
	return nil
}

func (s *soak) startDaemon() error {
	s.spec.Seed = s.cfg.seed*1000 + int64(s.kills)
	d, err := startDaemon(s.spec)
	if err != nil {
		return err
	}
	s.d = d
	return nil
}

// scheduleKill sets when the next kill is due: at a random moment inside
// the next interval of the run's fixed schedule (one kill per killEvery).
// The schedule is anchored to the run's start, not to the last kill, so
// the time spent verifying after a kill does not stretch it: a 10-minute
// run with -kill-every 1m kills ten times.
func (s *soak) scheduleKill() {
	if s.cfg.killEvery <= 0 {
		s.nextKill = time.Now().Add(100 * 365 * 24 * time.Hour)
		return
	}
	slot := s.start.Add(time.Duration(s.kills) * s.cfg.killEvery)
	s.nextKill = slot.Add(time.Duration(s.rng.Int64N(int64(s.cfg.killEvery))))
}

// maybeKill kills the daemon and starts a new one when a kill is due (the
// first point it is asked at after that: between two system calls of an
// operation, or between operations); it then checks every name against
// the store. It reports whether it killed.
func (s *soak) maybeKill() bool {
	if time.Now().Before(s.nextKill) {
		return false
	}
	s.addCounts()
	s.kills++
	s.op("KILL the daemon (kill %d)", s.kills)
	if err := s.d.kill(s.dir); err != nil {
		s.logf("%v", err)
	}
	if err := s.startDaemon(); err != nil {
		s.logf("restarting the daemon: %v", err)
		fmt.Fprintln(os.Stderr, "soak: restarting the daemon:", err)
		os.Exit(1)
	}
	s.verifyAll(fmt.Sprintf("after kill %d", s.kills))
	s.scheduleKill()
	return true
}

// inStore describes what the store itself holds under name, read around
// the daemon (MinIO only).
func (s *soak) inStore(name string) string {
	if s.direct == nil {
		return "(not read: local store)"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	obj, err := s.direct.GetObject(ctx, s.spec.Bucket, "soak/"+name, minio.GetObjectOptions{})
	if err != nil {
		return fmt.Sprintf("(read failed: %v)", err)
	}
	defer obj.Close()
	data, err := io.ReadAll(obj)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			for o := range s.direct.ListObjects(ctx, s.spec.Bucket, minio.ListObjectsOptions{Prefix: "soak/" + name + "/", MaxKeys: 1}) {
				if o.Err == nil {
					return "a folder (" + o.Key + ")"
				}
			}
			return "absent"
		}
		return fmt.Sprintf("(read failed: %v)", err)
	}
	return fileState(data).String()
}

// addCounts adds the running daemon's store calls and faults to the run's.
func (s *soak) addCounts() {
	c, err := s.d.counts()
	if err != nil {
		s.logf("counting the daemon's faults: %v", err)
		return
	}
	s.calls += c.Calls
	s.injected += c.Injected
}

// op logs the start of an operation.
func (s *soak) op(format string, args ...any) {
	line := time.Now().UTC().Format("15:04:05.000 ") + fmt.Sprintf("op %d: ", s.ops) + fmt.Sprintf(format, args...)
	s.recent = append(s.recent, line)
	if len(s.recent) > 60 {
		s.recent = s.recent[1:]
	}
	fmt.Fprintln(s.logFile, line)
}

func (s *soak) logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	if !strings.HasPrefix(line, "  ") {
		line = time.Now().UTC().Format("15:04:05.000 ") + line
	}
	if strings.HasPrefix(line, "  ") {
		s.recent = append(s.recent, line)
	}
	fmt.Fprintln(s.logFile, line)
}

func (s *soak) report() {
	share := 0.0
	if s.calls > 0 {
		share = 100 * float64(s.injected) / float64(s.calls)
	}
	fmt.Printf("soak: seed %d: %d operations (%d system calls), %d store calls, %d faults injected (%.1f%%), %d kills, %d stalled calls, %d reads given up, %d mismatches\n",
		s.cfg.seed, s.ops, s.syscalls, s.calls, s.injected, share, s.kills, s.stalls, s.readErrors, len(s.mismatches))
	for _, m := range s.mismatches {
		fmt.Println("  " + m)
	}
}

// pick returns one of choices, drawn from the run's generator.
func pick[T any](s *soak, choices ...T) T { return choices[s.rng.IntN(len(choices))] }

func slicesConcat(a, b []string) []string { return append(append([]string(nil), a...), b...) }
