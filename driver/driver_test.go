package driver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/go-plugins-helpers/volume"
	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/internal/testenv"
	"github.com/s3vol/s3vol/layout"
	"github.com/s3vol/s3vol/registry"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/localstore"
	"github.com/s3vol/s3vol/store/s3store"
)

func TestMain(m *testing.M) { os.Exit(miniotest.Main(m)) }

// fixture is a driver over real stores, with real FUSE mounts.
type fixture struct {
	t     *testing.T
	d     *Driver
	reg   *registry.Registry
	data  store.Store
	root  string // mount root
	state string
}

type fixtureOpts struct {
	grace    time.Duration
	refresh  time.Duration // background refresh interval (default 2 s)
	staleAge time.Duration // StaleUploadAge
	store    store.Store   // default: a fresh local store
	leaseTTL time.Duration // default: the registry's
	state    string        // default: a fresh folder
	call     time.Duration // CallTimeout (default 20 s)
}

func newFixture(t *testing.T, o fixtureOpts) *fixture {
	t.Helper()
	testenv.NeedFUSE(t)
	if o.store == nil {
		st, err := localstore.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		o.store = st
	}
	if o.state == "" {
		o.state = t.TempDir()
	}
	if o.call == 0 {
		o.call = 20 * time.Second
	}
	log := logrus.New()
	log.SetLevel(logrus.DebugLevel)
	log.SetOutput(testWriter{t})
	reg, err := registry.New(registry.Config{Meta: o.store, Data: o.store, Prefix: "meta/", Org: "default", HostID: "host-t", LeaseTTL: o.leaseTTL, Logger: logrus.NewEntry(log)})
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "mounts")
	d, err := New(Config{
		Registry: reg, Data: o.store, MountRoot: root, CacheDir: filepath.Join(o.state, "cache"),
		SnapshotPath: filepath.Join(o.state, "snapshot.json"), MountGrace: o.grace,
		RefreshInterval: o.refresh, StaleUploadAge: o.staleAge,
		CallTimeout: o.call, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	d.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := d.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		reg.Close()
		if ms, _ := mountsUnder(root); len(ms) > 0 {
			t.Errorf("mounts left after shutdown: %v", ms)
			for _, m := range ms {
				detach(m.point)
			}
		}
	})
	return &fixture{t: t, d: d, reg: reg, data: o.store, root: root, state: o.state}
}

// testWriter sends the driver's logs to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (f *fixture) create(name string, opts map[string]string) {
	f.t.Helper()
	if err := f.d.Create(&volume.CreateRequest{Name: name, Options: opts}); err != nil {
		f.t.Fatalf("create %s: %v", name, err)
	}
}

func (f *fixture) mount(name, id string) string {
	f.t.Helper()
	res, err := f.d.Mount(&volume.MountRequest{Name: name, ID: id})
	if err != nil {
		f.t.Fatalf("mount %s/%s: %v", name, id, err)
	}
	return res.Mountpoint
}

func (f *fixture) unmount(name, id string) {
	f.t.Helper()
	if err := f.d.Unmount(&volume.UnmountRequest{Name: name, ID: id}); err != nil {
		f.t.Fatalf("unmount %s/%s: %v", name, id, err)
	}
}

func (f *fixture) isMounted(dir string) bool {
	f.t.Helper()
	ok, err := isMountpoint(dir)
	if err != nil {
		f.t.Fatal(err)
	}
	return ok
}

// waitUnmounted polls until dir is no longer a mountpoint and its teardown
// (lease release included) has finished: teardown runs after the grace
// period, in the background by design.
func (f *fixture) waitUnmounted(dir string) {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for f.isMounted(dir) || f.inTable(dir) {
		if time.Now().After(deadline) {
			f.t.Fatalf("%s is still mounted", dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inTable reports whether the driver still tracks a mount at dir.
func (f *fixture) inTable(dir string) bool {
	for _, m := range f.d.allMounts() {
		if m.dir == dir {
			return true
		}
	}
	return false
}

func (f *fixture) leases(name string) []registry.LeaseInfo {
	f.t.Helper()
	ls, err := f.reg.Leases(context.Background(), name)
	if err != nil {
		f.t.Fatal(err)
	}
	return ls
}

// Docker reuses a mount ID (docker cp on a running container): uses are
// counted per ID, and the mount goes only when every use has ended.
func TestMountCountsReusedIDs(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.create("v", nil)
	mp := f.mount("v", "container-1")
	if again := f.mount("v", "container-1"); again != mp {
		t.Fatalf("second mount with the same ID got %s, want %s", again, mp)
	}
	if other := f.mount("v", "container-2"); other != mp {
		t.Fatalf("another container got %s, want the shared %s", other, mp)
	}
	if err := os.WriteFile(filepath.Join(mp, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.unmount("v", "container-1") // docker cp's Unmount
	f.unmount("v", "container-2")
	if !f.isMounted(mp) {
		t.Fatal("unmounted while container-1 still uses the volume")
	}
	if got := f.d.localUses("v"); got != 1 {
		t.Fatalf("%d uses left, want 1", got)
	}
	if ls := f.leases("v"); len(ls) != 1 || ls[0].Host != "host-t" {
		t.Fatalf("leases while mounted: %+v, want this host's", ls)
	}
	f.unmount("v", "container-1")
	f.waitUnmounted(mp)
	if ls := f.leases("v"); len(ls) != 0 {
		t.Fatalf("leases after the last unmount: %+v", ls)
	}
	// The file was flushed before the unmount.
	if obj, err := f.data.Stat(context.Background(), dataPrefixOf(t, f, "v")+"f"); err != nil || obj.Size != 4 {
		t.Fatalf("stored file: %+v, %v", obj, err)
	}
}

func dataPrefixOf(t *testing.T, f *fixture, name string) string {
	t.Helper()
	e, err := f.reg.Get(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return e.DataPrefix
}

// The grace period keeps the mount for a use that comes right back (every
// docker run mounts, unmounts and mounts again).
func TestGraceKeepsMountForQuickRemount(t *testing.T) {
	f := newFixture(t, fixtureOpts{grace: time.Hour})
	f.create("v", nil)
	mp := f.mount("v", "create-copy")
	f.unmount("v", "create-copy")
	if !f.isMounted(mp) {
		t.Fatal("unmounted within the grace period")
	}
	if again := f.mount("v", "start"); again != mp {
		t.Fatalf("remount got %s, want the kept %s", again, mp)
	}
	f.unmount("v", "start")
	// Remove does not wait for the grace period: an idle mount goes first.
	if err := f.d.Remove(&volume.RemoveRequest{Name: "v"}); err != nil {
		t.Fatalf("remove of an idle volume: %v", err)
	}
	if f.isMounted(mp) {
		t.Fatal("removed volume still mounted")
	}
}

func TestUnknownUnmountSucceeds(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.create("v", nil)
	f.unmount("v", "never-mounted")
	f.unmount("no-such-volume", "x")
	mp := f.mount("v", "a")
	f.unmount("v", "b") // an ID that is not among the uses
	if !f.isMounted(mp) {
		t.Fatal("an unknown ID's Unmount took the mount down")
	}
	f.unmount("v", "a")
	f.waitUnmounted(mp)
}

// A Mount that fails undoes its own count and lease: Docker never sends
// Unmount for it.
func TestFailedMountLeavesNothing(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.create("v", nil)
	e, err := f.reg.Get(context.Background(), "v")
	if err != nil {
		t.Fatal(err)
	}
	// A file where the mountpoint folder must go makes the mount fail.
	blocker := filepath.Join(f.root, e.ID)
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = f.d.Mount(&volume.MountRequest{Name: "v", ID: "c1"})
	if err == nil || !strings.Contains(err.Error(), `could not mount volume "v"`) {
		t.Fatalf("mount over a blocked mountpoint: %v", err)
	}
	if n := f.d.localUses("v"); n != 0 {
		t.Fatalf("failed mount left %d uses", n)
	}
	if ls := f.leases("v"); len(ls) != 0 {
		t.Fatalf("failed mount left leases %+v", ls)
	}
	os.Remove(blocker)
	mp := f.mount("v", "c1")
	f.unmount("v", "c1")
	f.waitUnmounted(mp) // one Unmount suffices: the failure counted nothing
	if err := f.d.Remove(&volume.RemoveRequest{Name: "v"}); err != nil {
		t.Fatalf("remove after the mounts: %v", err)
	}
	// Mounting a volume that does not exist fails the same clean way.
	if _, err := f.d.Mount(&volume.MountRequest{Name: "ghost", ID: "c2"}); err == nil || !strings.Contains(err.Error(), "no such volume") {
		t.Fatalf("mount of a missing volume: %v", err)
	}
	if n := f.d.localUses("ghost"); n != 0 {
		t.Fatalf("failed mount of a missing volume left %d uses", n)
	}
}

func TestRemoveRefusedWhileMounted(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.create("v", nil)
	mp := f.mount("v", "c1")
	err := f.d.Remove(&volume.RemoveRequest{Name: "v"})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("remove of a mounted volume: %v", err)
	}
	f.unmount("v", "c1")
	f.waitUnmounted(mp)
	if err := f.d.Remove(&volume.RemoveRequest{Name: "v"}); err != nil {
		t.Fatal(err)
	}
	// Removing what is gone is what Docker wants: success.
	if err := f.d.Remove(&volume.RemoveRequest{Name: "v"}); err != nil {
		t.Fatalf("second remove: %v", err)
	}
}

func TestGetListCapabilities(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.create("vol", map[string]string{"uid": "1000", "mode": "0750"})
	f.create("view", map[string]string{"volume": "vol", "subpath": "a/b"})
	if err := f.d.Create(&volume.CreateRequest{Name: "vol", Options: map[string]string{"uid": "1000", "mode": "0750"}}); err != nil {
		t.Fatalf("idempotent create: %v", err)
	}
	res, err := f.d.Get(&volume.GetRequest{Name: "view"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(time.RFC3339, res.Volume.CreatedAt); err != nil {
		t.Errorf("CreatedAt %q: %v", res.Volume.CreatedAt, err)
	}
	s := res.Volume.Status
	if s["kind"] != "view" || s["volume"] != "vol" || s["subpath"] != "a/b" || s["usage"] != "1/100 volumes" || s["state"] != "ready" {
		t.Errorf("view status %v", s)
	}
	vs, err := f.d.Get(&volume.GetRequest{Name: "vol"})
	if err != nil {
		t.Fatal(err)
	}
	if vs.Volume.Status["uid"] != uint32(1000) || vs.Volume.Status["mode"] != "0750" {
		t.Errorf("volume status %v", vs.Volume.Status)
	}
	// Labels given as -o label.KEY=VALUE are kept and shown (issue 19.8).
	f.create("labelled", map[string]string{"label.team": "web", "label.env": "prod"})
	ls, err := f.d.Get(&volume.GetRequest{Name: "labelled"})
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := ls.Volume.Status["labels"].(map[string]string); l["team"] != "web" || l["env"] != "prod" || len(l) != 2 {
		t.Errorf("labelled volume's status %v", ls.Volume.Status)
	}
	if _, ok := vs.Volume.Status["labels"]; ok {
		t.Errorf("a volume without labels shows labels: %v", vs.Volume.Status)
	}
	list, err := f.d.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Volumes) != 3 || !slices.ContainsFunc(list.Volumes, func(v *volume.Volume) bool { return v.Name == "view" }) {
		t.Errorf("list: %+v", list.Volumes)
	}
	if _, err := f.d.Get(&volume.GetRequest{Name: "missing"}); err == nil || !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("get of a missing volume: %v", err)
	}
	if c := f.d.Capabilities(); c.Capabilities.Scope != "global" {
		t.Errorf("scope %q", c.Capabilities.Scope)
	}
	err = f.d.Create(&volume.CreateRequest{Name: "bad", Options: map[string]string{"size": "1G"}})
	if err == nil || !strings.Contains(err.Error(), "accepted options") {
		t.Errorf("create with an unknown option: %v", err)
	}
	// A view is mounted at its subpath, created on first mount.
	mp := f.mount("view", "c")
	if err := os.WriteFile(filepath.Join(mp, "in-view"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.unmount("view", "c")
	f.waitUnmounted(mp)
	if _, err := f.data.Stat(context.Background(), dataPrefixOf(t, f, "vol")+"a/b/in-view"); err != nil {
		t.Fatalf("the view's file is not under the volume's a/b: %v", err)
	}
}

// Get and List answer from the cache while the store is down, and a
// restarted driver answers from its snapshot before it reaches the store.
func TestCacheServesWhileStoreIsDown(t *testing.T) {
	srv := miniotest.Shared(t)
	srv.NeedLocal(t)
	bucket := srv.NewBucket(t)
	open := func() store.Store {
		st, err := s3store.New(context.Background(), s3store.Config{
			Endpoint: "http://" + srv.Endpoint, Bucket: bucket, Region: srv.Region,
			AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
			RequestTimeout: 2 * time.Second, Retries: -1,
		})
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	state := t.TempDir()
	second := open() // connected now: the store will be down later
	f := newFixture(t, fixtureOpts{store: open(), state: state})
	f.create("kept", nil)

	srv.Stop()
	t.Cleanup(func() { srv.StartT(t) })
	if _, err := f.d.Get(&volume.GetRequest{Name: "kept"}); err != nil {
		t.Fatalf("get while the store is down: %v", err)
	}
	if l, err := f.d.List(); err != nil || len(l.Volumes) != 1 {
		t.Fatalf("list while the store is down: %+v, %v", l, err)
	}
	err := f.d.Create(&volume.CreateRequest{Name: "new"})
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("create while the store is down: %v", err)
	}
	if _, err := f.d.Mount(&volume.MountRequest{Name: "kept", ID: "c"}); err == nil {
		t.Fatal("mount while the store is down succeeded")
	}
	if n := f.d.localUses("kept"); n != 0 {
		t.Fatalf("failed mount left %d uses", n)
	}

	// A second driver (a restart) on the same state folder knows the volume
	// from the snapshot while the store is still down.
	g := newFixture(t, fixtureOpts{store: second, state: state})
	if _, err := g.d.Get(&volume.GetRequest{Name: "kept"}); err != nil {
		t.Fatalf("restarted driver's get while the store is down: %v", err)
	}
}

// Docker calls Get, List, Path and Capabilities constantly: they cost no
// store request at all.
func TestDockerReadsCostNoStoreRequests(t *testing.T) {
	st, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	metered := store.NewMetered(st)
	f := newFixture(t, fixtureOpts{store: metered, refresh: time.Hour})
	for i := 0; i < 20; i++ {
		f.create(fmt.Sprintf("v%02d", i), nil)
	}
	<-f.d.Started()
	metered.Reset()
	for i := 0; i < 100; i++ {
		name := fmt.Sprintf("v%02d", i%20)
		if _, err := f.d.Get(&volume.GetRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.d.Path(&volume.PathRequest{Name: name}); err != nil {
			t.Fatal(err)
		}
		if l, err := f.d.List(); err != nil || len(l.Volumes) != 20 {
			t.Fatalf("list: %d volumes, %v", len(l.Volumes), err)
		}
		f.d.Capabilities()
	}
	for _, n := range metered.Snapshot() {
		if n != 0 {
			t.Fatalf("400 Docker reads cost store requests: %v", metered.Snapshot())
		}
	}
}

// Start-up aborts multipart uploads a crashed run left unfinished.
func TestStartupAbortsStaleUploads(t *testing.T) {
	st, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mp, err := st.NewMultipart(ctx, "default/some-volume-id/big-file", store.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := mp.UploadPart(ctx, 1, strings.NewReader("part one"), 8); err != nil {
		t.Fatal(err)
	}
	// Any upload started before the driver is older than a nanosecond.
	f := newFixture(t, fixtureOpts{store: st, staleAge: time.Nanosecond})
	<-f.d.Started()
	if n, err := st.AbortStaleUploads(ctx, "default/", 0); err != nil || n != 0 {
		t.Fatalf("after start-up %d stale uploads were left (%v)", n, err)
	}
}

// A view's folder, created on its first mount, is a directory marker with
// the view's owner and mode, as s3fs-fuse and rclone read them (it had no
// metadata: they showed it with their own defaults).
func TestViewFolderCarriesOwnerAndMode(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.create("vol", nil)
	f.create("view", map[string]string{"volume": "vol", "subpath": "a/b", "uid": "1000", "gid": "100", "mode": "0750"})
	mp := f.mount("view", "c")
	f.unmount("view", "c")
	f.waitUnmounted(mp)
	obj, err := f.data.Stat(context.Background(), dataPrefixOf(t, f, "vol")+"a/b/")
	if err != nil {
		t.Fatalf("the view's folder marker: %v", err)
	}
	got := layout.DecodeAttrs(obj.Metadata, layout.Attrs{Kind: layout.Dir})
	if got.Kind != layout.Dir || got.Perm != 0o750 || got.UID != 1000 || got.GID != 100 || got.Mtime.IsZero() {
		t.Errorf("the view's folder marker has metadata %v (%+v); want the view's owner 1000:100 and mode 0750", obj.Metadata, got)
	}
}
