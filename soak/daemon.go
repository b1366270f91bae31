package main

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/internal/reexec"
	"github.com/s3vol/s3vol/s3fs"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
	"github.com/s3vol/s3vol/store/localstore"
	"github.com/s3vol/s3vol/store/s3store"
)

// The filesystem under test runs in a process of its own, the "daemon",
// with the fault store inside it: killing it (SIGKILL) loses whatever it
// held in memory and in its unlinked staging files, as a crash of the real
// daemon would. The soak starts itself again as the daemon, the spec in an
// environment variable (which keeps the keys out of the process list).
//
// The daemon says "ready" on stdout once mounted and answers each
// "counts" line on stdin with the faults it has injected (one JSON line).

// daemonEnv carries the daemon's spec, as JSON.
const daemonEnv = "S3VOL_SOAK_DAEMON"

// daemonSpec is what a daemon mounts, and how it fails.
type daemonSpec struct {
	Endpoint, Bucket, Region, AccessKey, SecretKey string
	LocalStore                                     string // a local store folder instead of S3

	Dir, CacheDir string
	Seed          int64 // seeds the fault store
	Rate          float64
	OpTimeout     time.Duration
	LogFile       string
}

// runDaemonIfAsked serves a mount and exits when this process was started
// as a daemon; it returns at once otherwise.
func runDaemonIfAsked() {
	reexec.RunChildIfAsked(daemonEnv, "soak daemon", serveDaemon)
}

// faultRules are the faults a daemon injects, each at a share of rate:
// calls that fail before they reach the store, writes whose reply is lost
// after they happened, bodies cut off mid-stream, listings cut short,
// delays, and hangs that only the filesystem's own timeout ends.
func faultRules(rate float64) []faultstore.Rule {
	var rules []faultstore.Rule
	if rate <= 0 {
		return nil // a rule's Prob 0 would fire always
	}
	for _, op := range []faultstore.Op{faultstore.OpPut, faultstore.OpComplete, faultstore.OpCopy, faultstore.OpDelete, faultstore.OpDeleteMany} {
		rules = append(rules, faultstore.Rule{Op: op, Prob: rate / 2, AfterCall: true})
	}
	return append(rules,
		faultstore.Rule{Op: faultstore.OpRead, Prob: rate, AfterBytes: 1000},
		faultstore.Rule{Op: faultstore.OpList, Prob: rate / 2, AfterBytes: 1},
		faultstore.Rule{Prob: rate / 10, Hang: true},
		faultstore.Rule{Prob: rate, Err: store.ErrUnavailable},
		faultstore.Rule{Prob: rate, Delay: 200 * time.Millisecond},
	)
}

func openDaemonStore(ctx context.Context, spec daemonSpec) (store.Store, error) {
	if spec.LocalStore != "" {
		return localstore.New(spec.LocalStore)
	}
	return s3store.New(ctx, s3store.Config{Endpoint: spec.Endpoint, Bucket: spec.Bucket, Region: spec.Region,
		Lookup: s3store.LookupPath, AccessKey: spec.AccessKey, SecretKey: spec.SecretKey})
}

// serveDaemon mounts spec and serves until stdin closes or a signal comes.
func serveDaemon(spec daemonSpec) error {
	logf, err := os.OpenFile(spec.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	stdlog.SetOutput(logf) // go-fuse's own messages
	log := logrus.New()
	log.SetOutput(logf)
	log.SetLevel(logrus.WarnLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	inner, err := openDaemonStore(ctx, spec)
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	faults := faultstore.NewSeeded(inner, spec.Seed)
	for _, r := range faultRules(spec.Rate) {
		faults.Add(r)
	}
	m, err := s3fs.Mount(spec.Dir, s3fs.Options{
		Store: faults, Prefix: "soak/", CacheDir: spec.CacheDir,
		PartSize: store.MinPartSize, OpTimeout: spec.OpTimeout, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("mounting: %w", err)
	}
	reexec.Ready()
	go reexec.Answer(map[string]func() any{"counts": func() any { return countsOf(faults) }}, stop)
	<-ctx.Done()
	uctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	faults.Clear()
	if err := m.Flush(uctx); err != nil {
		log.WithError(err).Warn("flushing before unmount")
	}
	return m.Unmount(uctx)
}

// countsOf are the daemon's store calls and the faults injected so far.
func countsOf(faults *faultstore.Store) daemonCounts {
	c := daemonCounts{Injected: faults.Injected()}
	for _, op := range faultstore.Ops {
		c.Calls += faults.Calls(op)
	}
	return c
}

// daemonCounts are a daemon's store calls and the faults injected into them.
type daemonCounts struct{ Calls, Injected int64 }

// daemon is a running daemon, seen from the soak.
type daemon struct{ *reexec.Child }

// startDaemon starts a daemon for spec and waits until it has mounted.
func startDaemon(spec daemonSpec) (*daemon, error) {
	c, err := reexec.Start(context.Background(), daemonEnv, "the daemon", spec)
	if err != nil {
		return nil, err
	}
	return &daemon{c}, nil
}

// counts asks the daemon for its store calls and faults so far.
func (d *daemon) counts() (daemonCounts, error) {
	var c daemonCounts
	return c, d.Ask("counts", &c, 30*time.Second)
}

// kill ends the daemon with SIGKILL, as a crash would, and detaches its
// dead mount.
func (d *daemon) kill(dir string) error {
	d.Kill()
	return detach(dir)
}

// stop unmounts cleanly (flushing what it holds) and ends the daemon; one
// that does not stop is killed and its mount detached.
func (d *daemon) stop(dir string) error {
	err := d.Stop()
	if errors.Is(err, reexec.ErrKilled) {
		return errors.Join(err, detach(dir))
	}
	return err
}

// detach lazily unmounts dir (a dead FUSE mount answers ENOTCONN until it
// is); a folder not mounted is fine.
func detach(dir string) error {
	if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("detaching the dead mount %s: %w", dir, err)
	}
	return nil
}
