package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

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
	v := os.Getenv(daemonEnv)
	if v == "" {
		return
	}
	var spec daemonSpec
	if err := json.Unmarshal([]byte(v), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "soak daemon: decoding %s: %v\n", daemonEnv, err)
		os.Exit(2)
	}
	if err := serveDaemon(spec); err != nil {
		fmt.Fprintln(os.Stderr, "soak daemon:", err)
		os.Exit(1)
	}
	os.Exit(0)
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
	fmt.Println("ready")
	go answerCounts(faults, stop)
	<-ctx.Done()
	uctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	faults.Clear()
	if err := m.Flush(uctx); err != nil {
		log.WithError(err).Warn("flushing before unmount")
	}
	return m.Unmount(uctx)
}

// answerCounts answers the soak's "counts" lines, and calls stop when
// stdin closes.
func answerCounts(faults *faultstore.Store, stop func()) {
	defer stop()
	sc := bufio.NewScanner(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for sc.Scan() {
		if sc.Text() == "counts" {
			c := daemonCounts{Injected: faults.Injected()}
			for _, op := range faultstore.Ops {
				c.Calls += faults.Calls(op)
			}
			if err := out.Encode(c); err != nil {
				return
			}
		}
	}
}

// daemonCounts are a daemon's store calls and the faults injected into them.
type daemonCounts struct{ Calls, Injected int64 }

// daemon is a running daemon, seen from the soak.
type daemon struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startDaemon starts a daemon for spec and waits until it has mounted.
func startDaemon(spec daemonSpec) (*daemon, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the soak's own binary: %w", err)
	}
	js, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), daemonEnv+"="+string(js))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the daemon: %w", err)
	}
	d := &daemon{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	ready := make(chan error, 1)
	go func() {
		line, err := d.out.ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("unexpected %q", line)
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err == nil {
			return d, nil
		}
		cmd.Process.Kill()
		return nil, fmt.Errorf("the daemon failed to mount (%v): %w", err, cmd.Wait())
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("the daemon did not mount %s within a minute", spec.Dir)
	}
}

// counts asks the daemon for its store calls and faults so far.
func (d *daemon) counts() (daemonCounts, error) {
	if _, err := io.WriteString(d.stdin, "counts\n"); err != nil {
		return daemonCounts{}, fmt.Errorf("asking the daemon for its counts: %w", err)
	}
	type reply struct {
		c   daemonCounts
		err error
	}
	got := make(chan reply, 1)
	go func() {
		var r reply
		line, err := d.out.ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(line, &r.c)
		}
		r.err = err
		got <- r
	}()
	select {
	case r := <-got:
		return r.c, r.err
	case <-time.After(30 * time.Second):
		return daemonCounts{}, errors.New("the daemon did not answer within 30s")
	}
}

// kill ends the daemon with SIGKILL, as a crash would, and detaches its
// dead mount.
func (d *daemon) kill(dir string) error {
	d.cmd.Process.Kill()
	d.cmd.Wait()
	return detach(dir)
}

// stop unmounts cleanly (flushing what it holds) and ends the daemon.
func (d *daemon) stop(dir string) error {
	d.stdin.Close()
	done := make(chan error, 1)
	go func() { io.Copy(io.Discard, d.out); done <- d.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("the daemon's clean stop: %w", err)
		}
		return nil
	case <-time.After(3 * time.Minute):
		d.kill(dir)
		return errors.New("the daemon did not stop within 3 minutes; killed")
	}
}

// detach lazily unmounts dir (a dead FUSE mount answers ENOTCONN until it
// is); a folder not mounted is fine.
func detach(dir string) error {
	if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("detaching the dead mount %s: %w", dir, err)
	}
	return nil
}
