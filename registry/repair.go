package registry

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/layout"
	"github.com/s3vol/s3vol/store"
)

// RepairReport says what a Repair pass did and found.
type RepairReport struct {
	RolledBack []string `json:"rolledBack"` // half-done creates removed
	Finished   []string `json:"finished"`   // half-done deletes completed
	Restored   []string `json:"restored"`   // half-done deletes undone: a host holds a lease
	Purged     []string `json:"purged"`     // deleted volumes whose data was removed
	Leases     int      `json:"leases"`     // dead lease objects removed
	Failed     []string `json:"failed"`     // volumes in state error (left for the user)
	Orphans    []string `json:"orphans"`    // data prefixes no entry owns (reported, not deleted)
}

// Empty reports whether the pass found nothing to do or report.
func (rep RepairReport) Empty() bool {
	return len(rep.RolledBack)+len(rep.Finished)+len(rep.Restored)+len(rep.Purged)+
		rep.Leases+len(rep.Failed)+len(rep.Orphans) == 0
}

// Repair finishes or rolls back the work that crashed hosts left half done,
// so that nothing counts toward the limit forever: creates stuck in state
// creating are rolled back, deletes stuck in state deleting are finished
// (or undone when a host holds a live lease), the trash is purged, and the
// leases of dead hosts and deleted entries are removed. Only work older than
// Config.RepairGrace is touched, so Repair on one host does not undo what
// another host is doing now; every change is a CAS that re-checks the state,
// so Repair is safe to run anywhere, any time. Data prefixes that no entry
// owns are reported, never deleted: they may belong to another registry.
func (r *Registry) Repair(ctx context.Context) (RepairReport, error) {
	var rep RepairReport
	ix, _, err := r.load(ctx)
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, name := range sortedNames(ix) {
		rec := ix.Entries[name]
		if err := r.repairEntry(ctx, name, rec, &rep); err != nil {
			if isCrash(err) {
				return rep, err
			}
			errs = append(errs, err)
		}
	}
	purged, err := r.Purge(ctx)
	rep.Purged = purged
	if err != nil {
		if isCrash(err) {
			return rep, err
		}
		errs = append(errs, err)
	}
	if rep.Leases, err = r.removeDeadLeases(ctx); err != nil {
		errs = append(errs, err)
	}
	if rep.Orphans, err = r.findOrphans(ctx); err != nil {
		errs = append(errs, err)
	}
	r.logRepair(rep)
	return rep, errors.Join(errs...)
}

func (r *Registry) repairEntry(ctx context.Context, name string, rec *record, rep *RepairReport) error {
	stale := r.now().Sub(rec.StateSince) >= r.cfg.RepairGrace
	switch {
	case rec.State == StateError:
		rep.Failed = append(rep.Failed, name)
	case rec.State == StateCreating && stale:
		if err := r.rollBackCreate(ctx, name, rec); err != nil {
			return err
		}
		rep.RolledBack = append(rep.RolledBack, name)
	case rec.State == StateDeleting && stale:
		finished, err := r.resumeDelete(ctx, name, rec)
		if err != nil {
			return err
		}
		if finished {
			rep.Finished = append(rep.Finished, name)
		} else {
			rep.Restored = append(rep.Restored, name)
		}
	}
	return nil
}

// rollBackCreate trashes a create that never became ready; its root marker,
// if written, is purged with the rest of the trash.
func (r *Registry) rollBackCreate(ctx context.Context, name string, rec *record) error {
	_, err := r.update(ctx, "repair", func(ix *index) error {
		cur := ix.Entries[name]
		if cur == nil || cur.ID != rec.ID || cur.State != StateCreating || !cur.StateSince.Equal(rec.StateSince) {
			return errNoChange // it moved on meanwhile
		}
		r.trash(ix, name, cur, false) // never mounted: no lease
		return nil
	})
	return err
}

// resumeDelete finishes a stuck delete when no host holds a live lease, or
// restores the entry's previous state when one does.
func (r *Registry) resumeDelete(ctx context.Context, name string, rec *record) (finished bool, err error) {
	live, expired, err := r.liveLeases(ctx, rec.ID)
	if err != nil {
		return false, err
	}
	_, err = r.update(ctx, "repair", func(ix *index) error {
		cur := ix.Entries[name]
		if cur == nil || cur.ID != rec.ID || cur.State != StateDeleting || cur.DeleteTok != rec.DeleteTok {
			return errNoChange
		}
		if len(live) > 0 || (cur.Kind == KindVolume && len(ix.viewsOf(cur.ID)) > 0) {
			restore(cur, r.now())
			return nil
		}
		r.trash(ix, name, cur, expired)
		finished = true
		return nil
	})
	return finished, err
}

// removeDeadLeases deletes lease objects of entries that no longer exist and
// leases expired for more than a TTL (their host died without releasing).
func (r *Registry) removeDeadLeases(ctx context.Context) (int, error) {
	ix, _, err := r.load(ctx)
	if err != nil {
		return 0, err
	}
	prefix := r.orgPrefix() + "leases/"
	lctx, cancel := r.callCtx(ctx)
	defer cancel()
	var dead []string
	for obj, err := range r.cfg.Meta.List(lctx, store.ListOptions{Prefix: prefix}) {
		if err != nil {
			return 0, fmt.Errorf("registry: listing leases: %w", err)
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(obj.Key, prefix), "/")
		if _, rec := ix.byID(id); rec == nil {
			if !ix.trashed(id) { // the purge of a trashed entry removes its own
				dead = append(dead, obj.Key)
			}
			continue
		}
		l, err := r.readLease(lctx, obj)
		if err == nil && r.now().Sub(l.ExpiresAt) > r.cfg.LeaseTTL {
			dead = append(dead, obj.Key)
		}
	}
	if len(dead) == 0 {
		return 0, nil
	}
	if err := r.cfg.Meta.DeleteMany(lctx, dead); err != nil {
		return 0, fmt.Errorf("registry: removing %d dead leases: %w", len(dead), err)
	}
	return len(dead), nil
}

// findOrphans lists the volume prefixes under "<org>/" in the data store
// that neither an entry nor the trash accounts for.
func (r *Registry) findOrphans(ctx context.Context) ([]string, error) {
	ix, _, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, rec := range ix.Entries {
		known[rec.ID] = true
	}
	for _, t := range ix.Trash {
		known[t.ID] = true
	}
	lctx, cancel := r.callCtx(ctx)
	defer cancel()
	var orphans []string
	for obj, err := range r.cfg.Data.List(lctx, store.ListOptions{Prefix: layout.OrgPrefix(r.cfg.Org), Delimiter: "/"}) {
		if err != nil {
			return nil, fmt.Errorf("registry: listing volume prefixes in %s: %w", r.cfg.Data, err)
		}
		id, ok := layout.VolumeIDOf(r.cfg.Org, obj.Key)
		if _, err := uuid.Parse(id); !ok || err != nil || !obj.IsPrefix || known[id] {
			continue
		}
		orphans = append(orphans, obj.Key)
	}
	return orphans, nil
}

func (r *Registry) logRepair(rep RepairReport) {
	if rep.Empty() {
		r.log.Debug("registry: repair found nothing to do")
		return
	}
	r.log.WithFields(logrus.Fields{
		"rolledBack": rep.RolledBack, "finished": rep.Finished, "restored": rep.Restored,
		"purged": rep.Purged, "leases": rep.Leases, "failed": rep.Failed, "orphans": rep.Orphans,
	}).Info("registry: repair done")
}

func sortedNames(ix *index) []string {
	names := make([]string, 0, len(ix.Entries))
	for n := range ix.Entries {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
