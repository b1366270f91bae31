package s3fs

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/internal/testenv"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/localstore"
	"github.com/s3vol/s3vol/store/s3store"
)

func TestMain(m *testing.M) { os.Exit(miniotest.Main(m)) }

// backend makes a fresh, empty store for one test.
type backend struct {
	name string
	open func(t *testing.T) store.Store
}

var backends = []backend{
	{"local", func(t *testing.T) store.Store {
		st, err := localstore.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
	{"minio", func(t *testing.T) store.Store {
		srv := miniotest.Shared(t)
		return openMinio(t, srv, srv.NewBucket(t))
	}},
}

func openMinio(t *testing.T, srv *miniotest.Server, bucket string) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := s3store.New(ctx, s3store.Config{
		Endpoint: srv.URL(), Bucket: bucket, Region: srv.Region,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		RequestTimeout: 10 * time.Second, Retries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// eachStore runs fn as a subtest on the local store and on MinIO.
func eachStore(t *testing.T, fn func(t *testing.T, st store.Store)) {
	testenv.NeedFUSE(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			fn(t, b.open(t))
		})
	}
}

// testLogger logs to the test, so failures come with the filesystem's
// side of the story.
func testLogger(t *testing.T) logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(testWriter{t})
	l.SetLevel(logrus.InfoLevel)
	return l
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// mnt is a mount under test.
type mnt struct {
	t    *testing.T
	dir  string
	opts Options
	m    *Mounted
}

// mount mounts st (with opts' other fields) at a fresh directory; the
// mount is unmounted when the test ends.
func mount(t *testing.T, st store.Store, opts Options) *mnt {
	t.Helper()
	testenv.NeedFUSE(t)
	opts.Store = st
	if opts.MetadataTTL == 0 {
		opts.MetadataTTL = time.Second // the product's default
	}
	if opts.CacheDir == "" {
		opts.CacheDir = t.TempDir()
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	mt := &mnt{t: t, dir: t.TempDir(), opts: opts}
	mt.mount()
	t.Cleanup(mt.unmount)
	return mt
}

func (mt *mnt) mount() {
	mt.t.Helper()
	m, err := Mount(mt.dir, mt.opts)
	if err != nil {
		mt.t.Fatalf("mount: %v", err)
	}
	mt.m = m
}

func (mt *mnt) unmount() {
	if mt.m == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := mt.m // the goroutine below may outlive this call
	err := m.Unmount(ctx)
	waited := make(chan struct{})
	go func() { m.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(time.Minute):
		mt.t.Errorf("the filesystem is still served a minute after unmounting (a file left open?)")
	}
	mt.m = nil
	if err != nil {
		mt.t.Errorf("unmount: %v", err)
	}
}

// remount unmounts and mounts again: a fresh filesystem instance that
// knows only what is in the store.
func (mt *mnt) remount() {
	mt.t.Helper()
	mt.unmount()
	mt.mount()
}

// path is name inside the mount.
func (mt *mnt) path(name string) string { return filepath.Join(mt.dir, name) }

func (mt *mnt) write(name string, data []byte) {
	mt.t.Helper()
	if err := os.WriteFile(mt.path(name), data, 0o644); err != nil {
		mt.t.Fatal(err)
	}
}

func (mt *mnt) read(name string) []byte {
	mt.t.Helper()
	data, err := os.ReadFile(mt.path(name))
	if err != nil {
		mt.t.Fatal(err)
	}
	return data
}

// putObject writes an object straight into the store, as another tool
// would.
func putObject(t *testing.T, st store.Store, key string, data []byte, meta map[string]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := st.Put(ctx, key, bytes.NewReader(data), int64(len(data)), store.PutOptions{Metadata: meta}); err != nil {
		t.Fatal(err)
	}
}

// getObject reads an object straight from the store.
func getObject(t *testing.T, st store.Store, key string) ([]byte, store.Object, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body, obj, err := st.Get(ctx, key, store.GetOptions{})
	if err != nil {
		return nil, obj, err
	}
	defer body.Close()
	data, err := io.ReadAll(body)
	return data, obj, err
}

// keys lists every key under prefix.
func keys(t *testing.T, st store.Store, prefix string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ks []string
	for o, err := range st.List(ctx, store.ListOptions{Prefix: prefix}) {
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, o.Key)
	}
	return ks
}

// pattern returns n bytes of a pattern distinct for each seed.
func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+int(seed)*13) ^ byte(i>>9)
	}
	return b
}

// testClock is a clock for the freshness of a mount's cached metadata that
// moves only when the test says (Options.clock): a TTL then expires at the
// test's word, however slow the machine.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.Now()} }

func (c *testClock) read() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// advance moves the clock on by d.
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
