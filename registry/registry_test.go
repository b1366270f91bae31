package registry

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		r := e.registry("h1")
		spec := Spec{Name: "data", Options: Options{UID: 1000, GID: 1000, Mode: 0o770}, Labels: map[string]string{"team": "x"}}
		v, created, err := r.Create(ctx, spec)
		if err != nil || !created {
			t.Fatalf("create: %v created=%v", err, created)
		}
		if v.State != StateReady || v.Kind != KindVolume || v.DataPrefix != "acme/"+v.ID+"/" || v.Labels["team"] != "x" {
			t.Fatalf("unexpected volume %+v", v)
		}
		// The root marker carries the owner and mode, and names the volume.
		root, err := e.data.Stat(ctx, v.DataPrefix)
		if err != nil {
			t.Fatalf("root marker: %v", err)
		}
		if root.Metadata["s3vol-volume"] != v.ID || root.Metadata["uid"] != "1000" || root.Metadata["mode"] != fmt.Sprint(0o040770) {
			t.Fatalf("root marker metadata %v", root.Metadata)
		}
		// Another host sees it, by name and by id.
		r2 := e.registry("h2")
		for _, key := range []string{"data", v.ID} {
			got, err := r2.Get(ctx, key)
			if err != nil || got.ID != v.ID || got.Name != "data" {
				t.Fatalf("get %q: %+v, %v", key, got, err)
			}
		}
		putData(t, e.data, v.DataPrefix, 25)

		if err := r2.Delete(ctx, "data"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Get(ctx, "data"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("get after delete: %v", err)
		}
		// The slot is free at once; the data goes in the background.
		if info, err := r.Org(ctx); err != nil || info.Used != 0 {
			t.Fatalf("org after delete: %+v %v", info, err)
		}
		if _, err := r2.Purge(ctx); err != nil {
			t.Fatal(err)
		}
		if keys := keysUnder(t, e.data, v.DataPrefix); len(keys) != 0 {
			t.Fatalf("data left after purge: %v", keys)
		}
		if info, _ := r.Org(ctx); info.Purging != 0 {
			t.Fatalf("trash not emptied: %+v", info)
		}
		// The name can be reused and gets a new id.
		v2, created, err := r.Create(ctx, Spec{Name: "data"})
		if err != nil || !created || v2.ID == v.ID {
			t.Fatalf("re-create: %+v %v %v", v2, created, err)
		}
		if _, err := r.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"nope"`) {
			t.Fatalf("get missing: %v", err)
		}
		if err := r.Delete(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("delete missing: %v", err)
		}
	})
}

func TestCreateIdempotent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		r := e.registry("h1")
		spec := Spec{Name: "v", Options: Options{UID: 1, Mode: 0o700}}
		a, _, err := r.Create(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		b, created, err := e.registry("h2").Create(ctx, spec)
		if err != nil || created || b.ID != a.ID {
			t.Fatalf("second create: %+v created=%v %v", b, created, err)
		}
		other := spec
		other.Options = Options{UID: 2, Mode: 0o700, ReadOnly: true}
		_, _, err = r.Create(ctx, other)
		if !errors.Is(err, ErrExists) {
			t.Fatalf("different options: %v", err)
		}
		for _, want := range []string{"ro is false (asked true)", "uid is 1 (asked 2)"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message %q does not say %q", err, want)
			}
		}
		if strings.Contains(err.Error(), "mode") || strings.Contains(err.Error(), "gid") {
			t.Errorf("message %q names options that do not differ", err)
		}
		// GetOrCreate returns the existing volume whatever the options.
		g, created, err := r.GetOrCreate(ctx, other)
		if err != nil || created || g.ID != a.ID {
			t.Fatalf("get-or-create existing: %+v %v %v", g, created, err)
		}
		n, created, err := r.GetOrCreate(ctx, Spec{Name: "new"})
		if err != nil || !created || n.Options.Mode != DefaultMode {
			t.Fatalf("get-or-create new: %+v %v %v", n, created, err)
		}
	})
}

func TestViews(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		r := e.registry("h1")
		vol, _, err := r.Create(ctx, Spec{Name: "tenants", Options: Options{ReadOnly: true}})
		if err != nil {
			t.Fatal(err)
		}
		alice, created, err := r.Create(ctx, Spec{Name: "alice", Volume: "tenants", Subpath: "users/alice"})
		if err != nil || !created {
			t.Fatal(err)
		}
		if alice.Kind != KindView || alice.State != StateReady || alice.VolumeID != vol.ID || alice.Volume != "tenants" ||
			alice.DataPrefix != vol.DataPrefix+"users/alice/" || !alice.ReadOnly() {
			t.Fatalf("view %+v", alice)
		}
		if _, _, err := r.Create(ctx, Spec{Name: "alice", Volume: "tenants", Subpath: "users/alice"}); err != nil {
			t.Fatalf("idempotent view: %v", err)
		}
		if _, _, err := r.Create(ctx, Spec{Name: "alice", Volume: "tenants", Subpath: "users/bob"}); !errors.Is(err, ErrExists) ||
			!strings.Contains(err.Error(), `subpath is "users/alice" (asked "users/bob")`) {
			t.Fatalf("view with another subpath: %v", err)
		}
		// One namespace: a volume cannot take a view's name, nor the reverse.
		if _, _, err := r.Create(ctx, Spec{Name: "alice"}); !errors.Is(err, ErrExists) {
			t.Fatalf("volume named like a view: %v", err)
		}
		if _, _, err := r.Create(ctx, Spec{Name: "tenants", Volume: "alice", Subpath: "x"}); !errors.Is(err, ErrExists) {
			t.Fatalf("view named like a volume: %v", err)
		}
		if _, _, err := r.Create(ctx, Spec{Name: "nested", Volume: "alice", Subpath: "x"}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("view of a view: %v", err)
		}
		if _, _, err := r.Create(ctx, Spec{Name: "ghost", Volume: "nothing", Subpath: "x"}); !errors.Is(err, ErrNotFound) {
			t.Fatalf("view of a missing volume: %v", err)
		}
		if _, _, err := r.Create(ctx, Spec{Name: "bob", Volume: "tenants", Subpath: "users/bob"}); err != nil {
			t.Fatal(err)
		}
		// Views do not count toward the limit.
		if info, _ := r.Org(ctx); info.Used != 1 || info.Views != 2 {
			t.Fatalf("org %+v", info)
		}
		err = r.Delete(ctx, "tenants")
		if !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), `"alice", "bob"`) {
			t.Fatalf("delete volume with views: %v", err)
		}
		if v, _ := r.Get(ctx, "tenants"); v.State != StateReady {
			t.Fatalf("refused delete left state %s", v.State)
		}
		for _, name := range []string{"alice", "bob", "tenants"} {
			if err := r.Delete(ctx, name); err != nil {
				t.Fatalf("delete %s: %v", name, err)
			}
		}
		if list, _ := r.List(ctx); len(list) != 0 {
			t.Fatalf("left: %+v", list)
		}
	})
}

func TestLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		r := e.registry("h1")
		if info, err := r.Org(ctx); err != nil || info.Limit != DefaultLimit || info.LimitSet || info.Name != "acme" {
			t.Fatalf("fresh org %+v %v", info, err)
		}
		if _, err := r.SetLimit(ctx, 2); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"a", "b"} {
			if _, _, err := r.Create(ctx, Spec{Name: n}); err != nil {
				t.Fatal(err)
			}
		}
		_, _, err := e.registry("h2").Create(ctx, Spec{Name: "c"})
		want := `organization "acme" has reached its limit of 2 volumes (2 in use); delete one or ask for a higher limit`
		if !errors.Is(err, ErrLimitReached) || err.Error() != want {
			t.Fatalf("third create: %v", err)
		}
		// Views still work at the limit; an existing name is still idempotent.
		if _, _, err := r.Create(ctx, Spec{Name: "view", Volume: "a", Subpath: "p"}); err != nil {
			t.Fatal(err)
		}
		if _, created, err := r.Create(ctx, Spec{Name: "a"}); err != nil || created {
			t.Fatalf("idempotent at the limit: %v", err)
		}
		// Lowering below use keeps the volumes and refuses new ones.
		info, err := r.SetLimit(ctx, 1)
		if err != nil || info.Used != 2 || info.Limit != 1 {
			t.Fatalf("lower: %+v %v", info, err)
		}
		if err := r.Delete(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := r.Create(ctx, Spec{Name: "c"}); !errors.Is(err, ErrLimitReached) {
			t.Fatalf("create at lowered limit: %v", err)
		}
		if _, err := r.SetLimit(ctx, -1); !errors.Is(err, ErrInvalid) {
			t.Fatalf("negative limit: %v", err)
		}
	})
}

// TestListCost counts the store requests of List, Get and Org with 100
// volumes and views: one each, not one per entry.
func TestListCost(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		r := e.registry("h1")
		for i := range 60 {
			if _, _, err := r.Create(ctx, Spec{Name: fmt.Sprintf("vol%02d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 40 {
			if _, _, err := r.Create(ctx, Spec{Name: fmt.Sprintf("view%02d", i), Volume: "vol00", Subpath: fmt.Sprintf("t/%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		before := e.meta.count()
		list, err := e.registry("h2").List(ctx)
		cost := e.meta.count() - before
		if err != nil || len(list) != 100 {
			t.Fatalf("list: %d entries, %v", len(list), err)
		}
		t.Logf("List of %d entries: %d store request(s)", len(list), cost)
		if cost > 2 {
			t.Fatalf("List cost %d store requests for 100 entries", cost)
		}
		if list[0].Name != "view00" || list[0].Volume != "vol00" || list[99].Name != "vol59" {
			t.Fatalf("not sorted by name, or view unresolved: first %+v, last %+v", list[0], list[99])
		}
		before = e.meta.count()
		if _, err := r.Get(ctx, "view07"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Org(ctx); err != nil {
			t.Fatal(err)
		}
		if cost := e.meta.count() - before; cost > 2 {
			t.Fatalf("Get+Org cost %d requests", cost)
		}
		// The driver's cache refresh (every 2 s) wants both: one read.
		before = e.meta.count()
		all, org, err := r.ListAndOrg(ctx)
		if err != nil || len(all) != 100 || all[0].Name != "view00" || org.Used != 60 || org.Views != 40 {
			t.Fatalf("ListAndOrg: %d entries, %+v, %v", len(all), org, err)
		}
		if cost := e.meta.count() - before; cost != 1 {
			t.Fatalf("ListAndOrg cost %d requests; want 1", cost)
		}
	})
}

// TestCreateErrorState: when the data store refuses the root marker, the
// volume is marked error with the reason, can be inspected and deleted.
func TestCreateErrorState(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		good := e.registry("h1")
		bad := e.registry("h1", func(c *Config) { c.Data = e.broken(t) })
		_, _, err := bad.Create(ctx, Spec{Name: "v"})
		if err == nil || !strings.Contains(err.Error(), `creating volume "v"`) {
			t.Fatalf("create on a broken data store: %v", err)
		}
		v, err := good.Get(ctx, "v")
		if err != nil || v.State != StateError || v.Reason == "" {
			t.Fatalf("volume after failed create: %+v %v", v, err)
		}
		if _, err := good.Acquire(ctx, "v"); err == nil || !strings.Contains(err.Error(), "creation failed") {
			t.Fatalf("acquire error volume: %v", err)
		}
		// Creating again with a working store finishes it.
		v, created, err := good.Create(ctx, Spec{Name: "v"})
		if err != nil || created || v.State != StateReady {
			t.Fatalf("retry create: %+v %v %v", v, created, err)
		}
		if _, err := e.data.Stat(ctx, v.DataPrefix); err != nil {
			t.Fatalf("root marker after retry: %v", err)
		}
	})
}
