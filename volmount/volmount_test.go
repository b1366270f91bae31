package volmount

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/internal/bufpool"
	"github.com/s3vol/s3vol/internal/testenv"
	"github.com/s3vol/s3vol/layout"
	"github.com/s3vol/s3vol/observe"
	"github.com/s3vol/s3vol/registry"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/localstore"
)

type fixture struct {
	env  Env
	reg  *registry.Registry
	data store.Store
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(testWriter{t})
	reg, err := registry.New(registry.Config{Meta: st, Data: st, Prefix: "meta/", HostID: "host-t", Logger: logrus.NewEntry(log)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	env := Env{Registry: reg, Data: st, CacheDir: filepath.Join(t.TempDir(), "cache"), Logger: log}
	return &fixture{env: env, reg: reg, data: st}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func (f *fixture) create(t *testing.T, spec registry.Spec) registry.Entry {
	t.Helper()
	e, _, err := f.reg.Create(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (f *fixture) open(t *testing.T, req Request) *Mount {
	t.Helper()
	dir := t.TempDir()
	req.Mountpoint = func(registry.Entry) (string, error) { return dir, nil }
	m, err := Open(context.Background(), f.env, req)
	if err != nil {
		t.Fatalf("opening %+v: %v", req, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := m.FS.Unmount(ctx); err != nil {
			t.Errorf("unmount: %v", err)
		}
		if err := m.Lease.Release(ctx); err != nil {
			t.Errorf("release: %v", err)
		}
	})
	return m
}

func (f *fixture) leases(t *testing.T, name string) []registry.LeaseInfo {
	t.Helper()
	ls, err := f.reg.Leases(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

// A subpath mount serves the folder under the volume's prefix, writes its
// marker with the volume's owner and mode, holds the lease, and removes the
// staging folder `s3vol mount` used before (<cache>/mount-<id>).
func TestOpenSubpath(t *testing.T) {
	testenv.NeedFUSE(t)
	f := newFixture(t)
	vol := f.create(t, registry.Spec{Name: "vol", Options: registry.Options{UID: 1000, GID: 100, Mode: 0o750}})
	old := filepath.Join(f.env.CacheDir, "mount-"+vol.ID)
	if err := os.MkdirAll(old, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "staging-left"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := f.open(t, Request{Name: "vol", Subpath: "a/b"})
	if want := layout.SubfolderPrefix(vol.DataPrefix, "a/b"); m.Prefix != want {
		t.Errorf("prefix %q, want %q", m.Prefix, want)
	}
	obj, err := f.data.Stat(context.Background(), m.Prefix)
	if err != nil {
		t.Fatalf("the subpath's folder marker: %v", err)
	}
	if a := layout.DecodeAttrs(obj.Metadata, layout.Attrs{Kind: layout.Dir}); a.Perm != 0o750 || a.UID != 1000 || a.GID != 100 {
		t.Errorf("folder marker metadata %v, want the volume's 1000:100 0750", obj.Metadata)
	}
	if err := os.WriteFile(filepath.Join(m.Dir, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.data.Stat(context.Background(), layout.FileKey(m.Prefix, "f")); err != nil {
		t.Errorf("a file written in the subpath mount is not under its prefix: %v", err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the old staging folder %s is still there: %v", old, err)
	}
	if ls := f.leases(t, "vol"); len(ls) != 1 {
		t.Errorf("leases while mounted: %+v, want one", ls)
	}
}

// Read-only comes from the request or from the entry; both give EROFS
// (a merge once dropped ReadOnly from one of two option builders).
func TestOpenReadOnly(t *testing.T) {
	testenv.NeedFUSE(t)
	f := newFixture(t)
	f.create(t, registry.Spec{Name: "rw"})
	f.create(t, registry.Spec{Name: "ro", Options: registry.Options{ReadOnly: true}})
	f.create(t, registry.Spec{Name: "view", Volume: "ro", Subpath: "v"})
	for _, req := range []Request{{Name: "rw", ReadOnly: true}, {Name: "ro"}, {Name: "view"}} {
		m := f.open(t, req)
		if err := os.WriteFile(filepath.Join(m.Dir, "f"), []byte("x"), 0o644); !errors.Is(err, syscall.EROFS) {
			t.Errorf("writing to %+v: %v, want EROFS", req, err)
		}
	}
	m := f.open(t, Request{Name: "rw"})
	if err := os.WriteFile(filepath.Join(m.Dir, "f"), []byte("x"), 0o644); err != nil {
		t.Errorf("writing to a writable mount: %v", err)
	}
}

// A failed open leaves no lease behind and names the step that failed.
func TestOpenFailureReleasesLease(t *testing.T) {
	f := newFixture(t)
	f.create(t, registry.Spec{Name: "vol"})
	boom := errors.New("no such folder")
	_, err := Open(context.Background(), f.env, Request{Name: "vol", Mountpoint: func(registry.Entry) (string, error) { return "", boom }})
	var step *StepError
	if !errors.As(err, &step) || step.Step != "preparing the mountpoint" || !errors.Is(err, boom) {
		t.Fatalf("open with a failing mountpoint: %v", err)
	}
	if ls := f.leases(t, "vol"); len(ls) != 0 {
		t.Errorf("leases after a failed open: %+v", ls)
	}
	_, err = Open(context.Background(), f.env, Request{Name: "missing", Mountpoint: func(registry.Entry) (string, error) { return t.TempDir(), nil }})
	if !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("open of a missing volume: %v", err)
	}
}

// The entry's options and the process's settings reach the filesystem:
// owner, modes (the mode of files without its execute bits), read-only,
// FastListing (S3VOL_FAST_LISTING), and the staging folder of the entry's
// id that the driver and `s3vol mount` share.
func TestFilesystemOptions(t *testing.T) {
	env := Env{CacheDir: "/cache", FastListing: true, MetadataTTL: 3 * time.Second, OpTimeout: 4 * time.Second}
	e := registry.Entry{ID: "id1", Name: "vol", DataPrefix: "acme/id1/", Options: registry.Options{UID: 7, GID: 8, Mode: 0o750, ReadOnly: true}}
	o := fsOptions(env, e)
	if o.Prefix != "acme/id1/" || o.UID != 7 || o.GID != 8 || o.DirMode != 0o750 || o.FileMode != 0o640 || !o.ReadOnly {
		t.Errorf("options %+v do not carry the entry's prefix, owner, modes and read-only flag", o)
	}
	if !o.FastListing || o.MetadataTTL != 3*time.Second || o.OpTimeout != 4*time.Second || o.CacheDir != filepath.Join("/cache", "id1") {
		t.Errorf("options %+v do not carry the settings (FastListing, TTL, op timeout, staging folder /cache/id1)", o)
	}
	if o := fsOptions(Env{}, registry.Entry{}); o.DirMode != registry.DefaultMode || o.ReadOnly || o.FastListing {
		t.Errorf("an entry without a mode: %+v, want the default mode %o", o, registry.DefaultMode)
	}
}

// Env.AccountBuffers gives a mount the account of the memory budget of its
// entry's name; without it, the mount draws from Env.Buffers itself.
func TestFilesystemBuffersAreAccountedByName(t *testing.T) {
	pool := bufpool.New(1 << 20)
	accounts := map[string]*bufpool.Pool{}
	env := Env{Buffers: pool, AccountBuffers: func(name string) func(*bufpool.Pool) *bufpool.Pool {
		return func(p *bufpool.Pool) *bufpool.Pool {
			if p != pool {
				t.Errorf("the account of %s was asked of another pool", name)
			}
			accounts[name] = p.Account()
			return accounts[name]
		}
	}}
	o := fsOptions(env, registry.Entry{ID: "id1", Name: "vol"})
	if o.Buffers == nil || o.Buffers != accounts["vol"] {
		t.Fatalf("the mount of vol draws from %p, not the account of vol %p", o.Buffers, accounts["vol"])
	}
	b, _ := o.Buffers.TryGet(4096)
	if now, _ := pool.InUse(); now != 4096 {
		t.Errorf("a buffer of the mount's account leaves %d bytes in use in the pool, want 4096", now)
	}
	o.Buffers.Put(b)
	env.AccountBuffers = nil
	if o := fsOptions(env, registry.Entry{ID: "id1", Name: "vol"}); o.Buffers != pool {
		t.Error("without AccountBuffers the mount does not draw from Env.Buffers")
	}
}

// Env.WrapStore wraps the store of a mount by the entry's name: the
// marker of its subpath and the files written through it are counted under
// the volume, and nothing under another entry's name.
func TestOpenWrapsTheStoreByName(t *testing.T) {
	testenv.NeedFUSE(t)
	f := newFixture(t)
	metrics := observe.New()
	f.env.WrapStore = metrics.VolumeStore
	f.create(t, registry.Spec{Name: "vol"})
	f.create(t, registry.Spec{Name: "other"})
	m := f.open(t, Request{Name: "vol", Subpath: "sub"})
	const files = 3
	for i := range files {
		if err := os.WriteFile(filepath.Join(m.Dir, fmt.Sprintf("f%d", i)), []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	srv := httptest.NewServer(metrics.Handler())
	defer srv.Close()
	s, err := observe.Scrape(context.Background(), srv.Client(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	// One put for the subpath's marker, one per file.
	if puts, _ := s.Value("s3vol_volume_s3_requests_total", "volume", "vol", "op", "put", "outcome", "ok"); puts < files+1 {
		t.Errorf("%v puts counted under vol, want at least %d (the marker and %d files)", puts, files+1, files)
	}
	if sent, _ := s.Value("s3vol_volume_s3_bytes_total", "volume", "vol", "direction", "sent"); sent < files*4 {
		t.Errorf("%v bytes sent under vol, want at least %d", sent, files*4)
	}
	if _, ok := s.Value("s3vol_volume_s3_requests_total", "volume", "other"); ok {
		t.Error("calls counted under other, which was not mounted")
	}
}
