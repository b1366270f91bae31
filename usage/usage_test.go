package usage

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/registry"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/s3store"
)

func TestMain(m *testing.M) { os.Exit(miniotest.Main(m)) }

// env is a registry over a fresh MinIO bucket with one volume in it.
type env struct {
	reg  *registry.Registry
	data store.Store
	vol  registry.Entry
}

func newEnv(t *testing.T) *env {
	srv := miniotest.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := s3store.New(ctx, s3store.Config{Endpoint: srv.URL(), Bucket: srv.NewBucket(t),
		Region: srv.Region, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(registry.Config{Meta: st, Data: st, Prefix: "meta/", Org: "acme", HostID: "h1", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	vol, _, err := reg.Create(ctx, registry.Spec{Name: "data"})
	if err != nil {
		t.Fatal(err)
	}
	return &env{reg: reg, data: st, vol: vol}
}

func quiet() *logrus.Entry {
	log := logrus.New()
	log.SetOutput(io.Discard)
	return logrus.NewEntry(log)
}

// put stores files of the given sizes in the volume and returns their sum.
func (e *env) put(t *testing.T, sizes ...int) (sum int64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i, n := range sizes {
		key := fmt.Sprintf("%sfile-%02d", e.vol.DataPrefix, i)
		if _, err := e.data.Put(ctx, key, bytes.NewReader(make([]byte, n)), int64(n), store.PutOptions{}); err != nil {
			t.Fatal(err)
		}
		sum += int64(n)
	}
	return sum
}

func (e *env) scanner(t *testing.T, data store.Store, mod func(*Config)) *Scanner {
	cfg := Config{Registry: e.reg, Data: data, Entries: func() []registry.Entry { return []registry.Entry{e.vol} },
		PagesPerSecond: 1000, Idle: 10 * time.Millisecond, Logger: quiet()}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// run runs s until cond holds (or the deadline), then stops it.
func run(t *testing.T, s *Scanner, cond func() bool) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within a minute")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
	}
}

func TestKnownSizesAreSummed(t *testing.T) {
	e := newEnv(t)
	want := e.put(t, 1, 4096, 1<<20+17)
	s := e.scanner(t, e.data, nil)
	before := time.Now()
	run(t, s, func() bool { u, _ := s.Get(e.vol.ID); return u.Measured() })
	u, _ := s.Get(e.vol.ID)
	if u.Bytes != want || u.Objects != 3 {
		t.Fatalf("usage = %d bytes in %d objects, want %d bytes in 3", u.Bytes, u.Objects, want)
	}
	if u.MeasuredAt.Before(before) || u.Scan != nil {
		t.Fatalf("measurement time %v (scan started after %v), scan in progress %+v", u.MeasuredAt, before, u.Scan)
	}
	// The measurement is recorded for other processes (the admin command).
	rec, ok, err := e.reg.Usage(context.Background(), e.vol.ID)
	if err != nil || !ok || rec.Bytes != want || rec.Objects != 3 || !rec.MeasuredAt.Equal(u.MeasuredAt) {
		t.Fatalf("recorded usage = %+v, %v, %v; want %+v", rec, ok, err, u)
	}
}

// listLog records the StartAfter of each listing, and can cancel the
// scanner as its listing number cancelAt starts.
type listLog struct {
	store.Store
	mu        sync.Mutex
	after     []string
	cancelAt  int
	cancelRun context.CancelFunc
}

func (l *listLog) List(ctx context.Context, opts store.ListOptions) iter.Seq2[store.Object, error] {
	l.mu.Lock()
	l.after = append(l.after, opts.StartAfter)
	if l.cancelRun != nil && len(l.after) == l.cancelAt {
		l.cancelRun()
		ctx = canceled()
	}
	l.mu.Unlock()
	return l.Store.List(ctx, opts)
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestScanResumesFromItsCheckpoint(t *testing.T) {
	e := newEnv(t)
	want := e.put(t, 10, 20, 30, 40, 50, 60, 70)
	page := func(c *Config) { c.PageSize = 2; c.CheckpointEvery = time.Nanosecond }

	// The first scanner stops as it starts its third page: two pages
	// (the root folder and three files) are checkpointed.
	ctx, cancel := context.WithCancel(context.Background())
	first := &listLog{Store: e.data, cancelAt: 3, cancelRun: cancel}
	s1 := e.scanner(t, first, page)
	s1.Run(ctx)
	third := first.after[2]
	rec, ok, err := e.reg.Usage(context.Background(), e.vol.ID)
	if err != nil || !ok || rec.Scan == nil || rec.Scan.After != third || rec.Scan.Objects != 3 || rec.Scan.Bytes != 60 || rec.Measured() {
		t.Fatalf("checkpoint after two pages = %+v (scan %+v), %v, %v; want a scan after %q with 3 objects, 60 bytes", rec, rec.Scan, ok, err, third)
	}

	// A new scanner (a restarted daemon) goes on from there.
	second := &listLog{Store: e.data}
	s2 := e.scanner(t, second, page)
	run(t, s2, func() bool { u, _ := s2.Get(e.vol.ID); return u.Measured() })
	u, _ := s2.Get(e.vol.ID)
	if u.Bytes != want || u.Objects != 7 {
		t.Fatalf("resumed usage = %d bytes in %d objects, want %d in 7", u.Bytes, u.Objects, want)
	}
	second.mu.Lock()
	defer second.mu.Unlock()
	if len(second.after) == 0 || second.after[0] != third {
		t.Fatalf("the resumed scan listed after %q, want after the checkpoint %q", second.after, third)
	}
}

// Remeasure has an entry measured again before Interval: a file added
// after the first measurement shows in the next one.
func TestRemeasureAheadOfInterval(t *testing.T) {
	e := newEnv(t)
	first := e.put(t, 100)
	s := e.scanner(t, e.data, func(c *Config) { c.Interval = time.Hour })
	run(t, s, func() bool { u, _ := s.Get(e.vol.ID); return u.Measured() })
	if u, _ := s.Get(e.vol.ID); u.Bytes != first {
		t.Fatalf("first measurement %d bytes, want %d", u.Bytes, first)
	}
	ctx := context.Background()
	if _, err := e.data.Put(ctx, e.vol.DataPrefix+"later", bytes.NewReader(make([]byte, 50)), 50, store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	s.Remeasure(e.vol.ID)
	run(t, s, func() bool { u, _ := s.Get(e.vol.ID); return u.Bytes == first+50 && u.Objects == 2 })
}
