package registry

import (
	"context"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/localstore"
)

func TestMain(m *testing.M) { os.Exit(miniotest.Main(m)) }

// backend opens a fresh pair of stores (metadata, data) for one test.
type backend struct {
	name string
	open func(t *testing.T) (meta, data store.Store)
	// broken opens a data store whose every write fails, for real.
	broken func(t *testing.T) store.Store
}

func backends() []backend {
	return []backend{
		{"local", func(t *testing.T) (store.Store, store.Store) {
			meta, err := localstore.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			data, err := localstore.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return meta, data
		}, brokenLocal},
		{"minio", openMinIO, brokenMinIO},
	}
}

// env is one test's stores, shared by every registry ("host") it makes.
type env struct {
	t      *testing.T
	meta   *countingStore // counts the requests of every registry
	data   store.Store
	prefix string
	broken func(t *testing.T) store.Store
}

// forEachBackend runs f once per backend, in a subtest.
func forEachBackend(t *testing.T, f func(t *testing.T, e *env)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			meta, data := b.open(t)
			f(t, &env{t: t, meta: &countingStore{Store: meta}, data: data, prefix: "s3vol/", broken: b.broken})
		})
	}
}

// registry opens a registry for host on the env's stores; it is closed
// when the test ends. mods adjust the config.
func (e *env) registry(host string, mods ...func(*Config)) *Registry {
	e.t.Helper()
	log := logrus.New()
	log.SetOutput(io.Discard)
	cfg := Config{Meta: e.meta, Data: e.data, Prefix: e.prefix, Org: "acme", HostID: host,
		LeaseTTL: 2 * time.Second, Logger: logrus.NewEntry(log)}
	for _, m := range mods {
		m(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { r.Close() })
	return r
}

func noGrace(c *Config) { c.RepairGrace = -1 }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// countingStore counts the requests made through it: List counts once per
// call (one page: the tests stay under 1000 keys per listing).
type countingStore struct {
	store.Store
	n atomic.Int64
}

func (c *countingStore) count() int64 { return c.n.Load() }

func (c *countingStore) Stat(ctx context.Context, key string) (store.Object, error) {
	c.n.Add(1)
	return c.Store.Stat(ctx, key)
}

func (c *countingStore) Get(ctx context.Context, key string, o store.GetOptions) (io.ReadCloser, store.Object, error) {
	c.n.Add(1)
	return c.Store.Get(ctx, key, o)
}

func (c *countingStore) Put(ctx context.Context, key string, r io.Reader, size int64, o store.PutOptions) (store.Object, error) {
	c.n.Add(1)
	return c.Store.Put(ctx, key, r, size, o)
}

func (c *countingStore) NewMultipart(ctx context.Context, key string, o store.PutOptions) (store.Multipart, error) {
	c.n.Add(1)
	return c.Store.NewMultipart(ctx, key, o)
}

func (c *countingStore) Copy(ctx context.Context, src, dst string, o store.CopyOptions) (store.Object, error) {
	c.n.Add(1)
	return c.Store.Copy(ctx, src, dst, o)
}

func (c *countingStore) List(ctx context.Context, o store.ListOptions) iter.Seq2[store.Object, error] {
	c.n.Add(1)
	return c.Store.List(ctx, o)
}

func (c *countingStore) Delete(ctx context.Context, key string) error {
	c.n.Add(1)
	return c.Store.Delete(ctx, key)
}

func (c *countingStore) DeleteMany(ctx context.Context, keys []string) error {
	c.n.Add(1)
	return c.Store.DeleteMany(ctx, keys)
}

// putData writes n small files under a volume's data prefix, as a mounted
// filesystem would.
func putData(t *testing.T, s store.Store, prefix string, n int) {
	t.Helper()
	ctx := ctxT(t)
	for i := range n {
		key := prefix + "dir/file-" + strconv.Itoa(i)
		if _, err := s.Put(ctx, key, strings.NewReader("hello"), 5, store.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// brokenLocal opens a local store whose object tree has been replaced by a
// plain file, so every write fails with ENOTDIR.
func brokenLocal(t *testing.T) store.Store {
	dir := t.TempDir()
	s, err := localstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	objects := filepath.Join(dir, "objects")
	if err := os.RemoveAll(objects); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(objects, []byte("not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// keysUnder lists the keys under a prefix.
func keysUnder(t *testing.T, s store.Store, prefix string) []string {
	t.Helper()
	var keys []string
	for obj, err := range s.List(ctxT(t), store.ListOptions{Prefix: prefix}) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, obj.Key)
	}
	return keys
}
