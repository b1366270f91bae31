package registry

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"
)

// Steps of Delete, where tests can simulate a crash.
const (
	StepDeleteMarked  = "delete.marked"  // entry marked deleting, leases not checked
	StepDeleteRemoved = "delete.removed" // entry removed and trashed, data not purged
)

// Delete removes a volume or view by name (or id). It is refused with
// ErrInUse while a host holds a live lease on it (naming the hosts) or while
// views point at the volume (naming them). Once it returns nil the name and
// the limit slot are free; the volume's data is then removed in the
// background (Purge or Repair resume it after a crash). Deleted data cannot
// be recovered.
func (r *Registry) Delete(ctx context.Context, nameOrID string) error {
	name, rec, tok, err := r.markDeleting(ctx, nameOrID)
	if err != nil {
		return err
	}
	log := r.log.WithFields(logrus.Fields{"volume": name, "id": rec.ID, "kind": rec.Kind})
	if err := r.step(StepDeleteMarked); err != nil {
		return err
	}
	live, expired, err := r.liveLeases(ctx, rec.ID)
	if err == nil && len(live) > 0 {
		err = errorf(ErrInUse, "%s %q is in use: mounted on %s; unmount it there (stop the containers using it) or wait %s for a dead host's lease to expire",
			rec.Kind, name, describeLeases(live), r.cfg.LeaseTTL)
	}
	if err != nil {
		r.unmarkDeleting(name, rec.ID, tok)
		return err
	}
	tr, err := r.commitDelete(ctx, name, rec.ID, tok, expired)
	if err != nil {
		// Do not leave the volume unmountable until a Repair: restore it
		// (a no-op when the removal did land and only its reply was lost).
		r.unmarkDeleting(name, rec.ID, tok)
		return err
	}
	log.Info("registry: deleted; purging its data in the background")
	if err := r.step(StepDeleteRemoved); err != nil {
		return err
	}
	r.purgeInBackground(tr)
	return nil
}

// markDeleting marks the entry deleting under a fresh token. From then on no
// host can mount it or create a view of it.
func (r *Registry) markDeleting(ctx context.Context, nameOrID string) (string, record, string, error) {
	tok := uuid.NewString()
	var name string
	var rec record
	_, err := r.update(ctx, "delete", func(ix *index) error {
		var cur *record
		name, cur = ix.lookup(nameOrID)
		if cur == nil {
			return r.notFound(nameOrID)
		}
		if cur.Kind == KindVolume {
			if views := ix.viewsOf(cur.ID); len(views) > 0 {
				return errorf(ErrInUse, "volume %q is in use by %d view(s): %s; remove the views first",
					name, len(views), quoteList(views))
			}
		}
		if cur.State != StateDeleting {
			cur.PrevState = cur.State
		}
		cur.State, cur.DeleteTok, cur.StateSince = StateDeleting, tok, r.now().UTC()
		rec = *cur
		return nil
	})
	return name, rec, tok, err
}

// unmarkDeleting restores the state a refused delete found, best effort: if
// it fails, Repair restores it later (the leases are still live then).
func (r *Registry) unmarkDeleting(name, id, tok string) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.CallTimeout)
	defer cancel()
	_, err := r.update(ctx, "delete", func(ix *index) error {
		cur := ix.Entries[name]
		if cur == nil || cur.ID != id || cur.State != StateDeleting || cur.DeleteTok != tok {
			return errNoChange
		}
		restore(cur, r.now())
		return nil
	})
	if err != nil {
		r.log.WithFields(logrus.Fields{"volume": name, "id": id}).WithError(err).
			Warn("registry: refused delete could not restore the volume's state; repair will")
	}
}

// restore undoes a deleting mark.
func restore(rec *record, now time.Time) {
	rec.State, rec.PrevState, rec.DeleteTok, rec.StateSince = rec.PrevState, "", "", now.UTC()
	if rec.State == "" {
		rec.State = StateReady
	}
}

// commitDelete removes the entry and records it in the trash, in one CAS,
// provided the deleting mark is still the one this delete made (a Repair
// may have restored it meanwhile, and a lease may have been taken since).
func (r *Registry) commitDelete(ctx context.Context, name, id, tok string, expiredLeases bool) (trashRecord, error) {
	var tr trashRecord
	_, err := r.update(ctx, "delete", func(ix *index) error {
		cur := ix.Entries[name]
		if cur == nil || cur.ID != id || cur.State != StateDeleting || cur.DeleteTok != tok {
			return errorf(ErrConflict, "%q changed while it was being deleted (mounted or restored by another host); try again", name)
		}
		tr = r.trash(ix, name, cur, expiredLeases)
		return nil
	})
	return tr, err
}

// trash removes an entry from the namespace and records what is left to
// purge. The name and the limit slot are free from this CAS on. When the
// delete found expired leases, the purge waits a TTL plus the fence margin:
// their holders stopped writing before their leases expired (see fence.go),
// but a write they had in flight may still land.
func (r *Registry) trash(ix *index, name string, rec *record, expiredLeases bool) trashRecord {
	tr := trashRecord{ID: rec.ID, Kind: rec.Kind, Name: name, Since: r.now().UTC()}
	if expiredLeases {
		tr.NotBefore = tr.Since.Add(r.purgeDelay())
	}
	if rec.Kind == KindVolume {
		tr.DataPrefix = r.dataPrefix(rec.ID)
	}
	delete(ix.Entries, name)
	ix.Trash = append(ix.Trash, tr)
	return tr
}

// describeLeases names the hosts holding leases, with each host's mounts
// summed over its processes. ls is sorted by host.
func describeLeases(ls []LeaseInfo) string {
	var parts []string
	for i := 0; i < len(ls); {
		host, n := ls[i].Host, 0
		for ; i < len(ls) && ls[i].Host == host; i++ {
			n += max(ls[i].Count, 1)
		}
		parts = append(parts, fmt.Sprintf("host %q (%d mount(s))", host, n))
	}
	return strings.Join(parts, ", ")
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
