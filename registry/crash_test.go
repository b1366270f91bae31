package registry

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/s3vol/s3vol/store"
)

// crashAt makes r "die" at step: the operation stops there with no cleanup
// and r must not be used again (but for Close).
func crashAt(r *Registry, step string) {
	r.hook = func(s string) bool { return s == step }
}

// TestCrashDuringCreate kills a create at each step; the half-done volume
// counts until Repair rolls it back, after which the count, the names and
// the data prefixes are as before.
func TestCrashDuringCreate(t *testing.T) {
	for _, step := range []string{StepCreateReserved, StepCreateData} {
		t.Run(step, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, e *env) {
				ctx := ctxT(t)
				if _, _, err := e.registry("h0").Create(ctx, Spec{Name: "keep"}); err != nil {
					t.Fatal(err)
				}
				dying := e.registry("h1")
				crashAt(dying, step)
				if _, _, err := dying.Create(ctx, Spec{Name: "victim"}); !isCrash(err) {
					t.Fatalf("create did not crash: %v", err)
				}
				dying.Close()

				// Repair on another host right away leaves it alone: it
				// may be a create in progress there.
				patient := e.registry("h2")
				if rep, err := patient.Repair(ctx); err != nil || len(rep.RolledBack) != 0 {
					t.Fatalf("repair within the grace period: %+v %v", rep, err)
				}
				if info, _ := patient.Org(ctx); info.Used != 2 {
					t.Fatalf("half-done create should still count: %+v", info)
				}
				rep, err := e.registry("h3", noGrace).Repair(ctx)
				if err != nil || !slices.Equal(rep.RolledBack, []string{"victim"}) || len(rep.Purged) != 1 {
					t.Fatalf("repair: %+v %v", rep, err)
				}
				checkConsistent(t, e, patient)
				if info, _ := patient.Org(ctx); info.Used != 1 {
					t.Fatalf("after repair: %+v", info)
				}
				if _, created, err := patient.Create(ctx, Spec{Name: "victim"}); err != nil || !created {
					t.Fatalf("name not reusable after repair: %v", err)
				}
				checkConsistent(t, e, patient)
			})
		})
	}
}

// TestCrashedCreateRetried: Docker retries a Create whose reply was lost;
// the retry finishes the half-done volume instead of failing.
func TestCrashedCreateRetried(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		dying := e.registry("h1")
		crashAt(dying, StepCreateReserved)
		if _, _, err := dying.Create(ctx, Spec{Name: "v"}); !isCrash(err) {
			t.Fatal(err)
		}
		v, created, err := e.registry("h2").Create(ctx, Spec{Name: "v"})
		if err != nil || created || v.State != StateReady {
			t.Fatalf("retry: %+v %v %v", v, created, err)
		}
		checkConsistent(t, e, e.registry("h3"))
	})
}

// TestCrashedCreateGetOrCreate: the driver's Create without options is a
// get-or-create; retried after a half-done create (here with other
// options than the crashed one asked for), it finishes that volume with
// its own options instead of answering with a volume that cannot mount.
func TestCrashedCreateGetOrCreate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		dying := e.registry("h1")
		crashAt(dying, StepCreateReserved)
		if _, _, err := dying.Create(ctx, Spec{Name: "v", Options: Options{UID: 1000}}); !isCrash(err) {
			t.Fatal(err)
		}
		v, created, err := e.registry("h2").GetOrCreate(ctx, Spec{Name: "v"})
		if err != nil || created || v.State != StateReady || v.Options.UID != 1000 {
			t.Fatalf("get-or-create of a half-created volume: %+v %v %v", v, created, err)
		}
		checkConsistent(t, e, e.registry("h3"))

		// A volume being deleted is not handed out either.
		crashAt(dying, StepDeleteMarked)
		if err := dying.Delete(ctx, "v"); !isCrash(err) {
			t.Fatal(err)
		}
		if v, _, err := e.registry("h2").GetOrCreate(ctx, Spec{Name: "v"}); !errors.Is(err, ErrConflict) {
			t.Fatalf("get-or-create of a volume being deleted: %+v %v", v, err)
		}
	})
}

// TestCrashDuringDelete kills a delete (and its background purge) at each
// step; Repair finishes it: the name and slot are free and the data gone.
func TestCrashDuringDelete(t *testing.T) {
	steps := []string{StepDeleteMarked, StepDeleteRemoved, StepPurgeBatch, StepPurgeData}
	for _, step := range steps {
		t.Run(step, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, e *env) {
				ctx := ctxT(t)
				dying := e.registry("h1")
				dying.purgeBatch = 10 // several batches for 25 files
				for _, n := range []string{"keep", "victim"} {
					v, _, err := dying.Create(ctx, Spec{Name: n})
					if err != nil {
						t.Fatal(err)
					}
					putData(t, e.data, v.DataPrefix, 25)
				}
				victim, _ := dying.Get(ctx, "victim")
				crashAt(dying, step)
				err := dying.Delete(ctx, "victim")
				dying.purgeWG.Wait() // the background purge runs to its crash
				dying.Close()
				if step == StepDeleteMarked || step == StepDeleteRemoved {
					if !isCrash(err) {
						t.Fatalf("delete did not crash: %v", err)
					}
				} else if err != nil {
					t.Fatalf("delete: %v", err)
				}
				if step == StepPurgeBatch {
					if left := keysUnder(t, e.data, victim.DataPrefix); len(left) == 0 || len(left) >= 26 {
						t.Fatalf("crash after one batch left %d keys", len(left))
					}
				}
				rep, err := e.registry("h2", noGrace).Repair(ctx)
				if err != nil {
					t.Fatalf("repair: %+v %v", rep, err)
				}
				t.Logf("repair: %+v", rep)
				if step == StepDeleteMarked && !slices.Equal(rep.Finished, []string{"victim"}) {
					t.Fatalf("stuck delete not finished: %+v", rep)
				}
				if !slices.Equal(rep.Purged, []string{"victim"}) {
					t.Fatalf("trash not purged: %+v", rep)
				}
				checkConsistent(t, e, e.registry("h3"))
				if left := keysUnder(t, e.data, victim.DataPrefix); len(left) != 0 {
					t.Fatalf("data left: %v", left)
				}
				if info, _ := e.registry("h4").Org(ctx); info.Used != 1 || info.Purging != 0 {
					t.Fatalf("org after repair: %+v", info)
				}
			})
		})
	}
}

// TestRepairRestoresLeasedDelete: a delete that died after marking the
// volume, while another host has it mounted, is undone by Repair.
func TestRepairRestoresLeasedDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := ctxT(t)
		holder := e.registry("holder")
		if _, _, err := holder.Create(ctx, Spec{Name: "v"}); err != nil {
			t.Fatal(err)
		}
		lease, err := holder.Acquire(ctx, "v")
		if err != nil {
			t.Fatal(err)
		}
		dying := e.registry("h1")
		crashAt(dying, StepDeleteMarked)
		if err := dying.Delete(ctx, "v"); !isCrash(err) {
			t.Fatal(err)
		}
		// While marked, mounts and views are refused.
		if _, err := e.registry("h2").Acquire(ctx, "v"); !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), "deleting") {
			t.Fatalf("acquire while deleting: %v", err)
		}
		rep, err := e.registry("h3", noGrace).Repair(ctx)
		if err != nil || !slices.Equal(rep.Restored, []string{"v"}) {
			t.Fatalf("repair: %+v %v", rep, err)
		}
		if v, _ := holder.Get(ctx, "v"); v.State != StateReady {
			t.Fatalf("state after repair: %s", v.State)
		}
		if err := lease.Release(ctx); err != nil {
			t.Fatal(err)
		}
		checkConsistent(t, e, holder)
	})
}

// checkConsistent verifies the registry's invariants against the stores:
// no half-done work, the trash empty, every volume's root marker in place,
// every view pointing at a volume, no data prefix or lease without an
// entry.
func checkConsistent(t *testing.T, e *env, r *Registry) {
	t.Helper()
	ctx := ctxT(t)
	ix, _, err := r.load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ix.Trash) != 0 {
		t.Errorf("trash not empty: %+v", ix.Trash)
	}
	ids := map[string]bool{}
	volumes := 0
	for name, rec := range ix.Entries {
		ids[rec.ID] = true
		switch {
		case rec.State != StateReady:
			t.Errorf("%s is %s", name, rec.State)
		case rec.Kind == KindVolume:
			volumes++
			obj, err := e.data.Stat(ctx, r.dataPrefix(rec.ID))
			if err != nil || obj.Metadata["s3vol-volume"] != rec.ID {
				t.Errorf("%s: root marker: %+v %v", name, obj.Metadata, err)
			}
		default:
			if _, vol := ix.byID(rec.VolumeID); vol == nil || vol.Kind != KindVolume {
				t.Errorf("view %s points at missing volume %s", name, rec.VolumeID)
			}
		}
	}
	if info := r.orgInfo(ix); info.Used != volumes {
		t.Errorf("org says %d volumes, index has %d", info.Used, volumes)
	}
	for obj, err := range e.data.List(ctx, store.ListOptions{Prefix: "acme/", Delimiter: "/"}) {
		if err != nil {
			t.Fatal(err)
		}
		id := strings.TrimSuffix(strings.TrimPrefix(obj.Key, "acme/"), "/")
		if !ids[id] {
			t.Errorf("data prefix %s belongs to no entry", obj.Key)
		}
	}
	leases := r.orgPrefix() + "leases/"
	for obj, err := range e.meta.List(ctx, store.ListOptions{Prefix: leases}) {
		if err != nil {
			t.Fatal(err)
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(obj.Key, leases), "/")
		if !ids[id] {
			t.Errorf("lease %s belongs to no entry", obj.Key)
		}
	}
}
