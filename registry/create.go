package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/layout"
	"github.com/s3vol/s3vol/store"
)

// Steps of Create, where tests can simulate a crash.
const (
	StepCreateReserved = "create.reserved" // name and slot reserved (state creating)
	StepCreateData     = "create.data"     // data root written, not yet ready
)

// Create creates a volume, or a view when spec.Volume is set. It is
// idempotent: when the name exists with the same kind and options, it
// returns the existing entry and created=false (finishing it first if it
// was left half-created). A name taken with other options is ErrExists,
// naming the differences; a full organization is ErrLimitReached.
func (r *Registry) Create(ctx context.Context, spec Spec) (e Entry, created bool, err error) {
	if spec.Options.Mode == 0 {
		spec.Options.Mode = DefaultMode
	}
	if err := spec.Validate(); err != nil {
		return Entry{}, false, err
	}
	id := uuid.NewString()
	var rec record
	ix, err := r.update(ctx, "create", func(ix *index) error {
		created = false
		if old := ix.Entries[spec.Name]; old != nil {
			if err := r.sameSpec(ix, spec, old); err != nil {
				return err
			}
			rec = *old
			return errNoChange
		}
		rec, err = r.newRecord(ix, spec, id)
		if err != nil {
			return err
		}
		ix.Entries[spec.Name] = &rec
		created = true
		return nil
	})
	if err != nil {
		return Entry{}, false, err
	}
	log := r.log.WithFields(logrus.Fields{"volume": spec.Name, "id": rec.ID, "kind": rec.Kind})
	if created {
		log.Info("registry: name reserved")
		if err := r.step(StepCreateReserved); err != nil {
			return Entry{}, false, err
		}
	}
	if rec.State == StateCreating || rec.State == StateError {
		if ix, err = r.finishCreate(ctx, spec.Name, &rec); err != nil {
			return Entry{}, false, err
		}
		log.Info("registry: volume ready")
	}
	_, cur := ix.byID(rec.ID)
	if cur == nil {
		cur = &rec
	}
	return r.entry(ix, spec.Name, cur), created, nil
}

// GetOrCreate returns the entry with that name whatever its options (as
// dockerd does: an existing volume wins), or creates it from spec. An
// entry left half created (a crashed host, a retried call) is finished
// first, with its own options, and one being deleted is refused, as Create
// does.
func (r *Registry) GetOrCreate(ctx context.Context, spec Spec) (Entry, bool, error) {
	e, err := r.Get(ctx, spec.Name)
	if err == nil && e.Name == spec.Name {
		switch e.State {
		case StateCreating, StateError:
			return r.Create(ctx, Spec{Name: e.Name, Options: e.Options, Labels: e.Labels, Volume: e.Volume, Subpath: e.Subpath})
		case StateDeleting: // as Create says: not a volume to hand out
			return Entry{}, false, errorf(ErrConflict, "%s %q is being deleted; try again in a moment", e.Kind, e.Name)
		}
		return e, false, nil
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Entry{}, false, err
	}
	return r.Create(ctx, spec)
}

// newRecord builds the record for a new name, enforcing the limit (volumes)
// or resolving the target (views) against this version of the index.
func (r *Registry) newRecord(ix *index, spec Spec, id string) (record, error) {
	now := r.now().UTC()
	rec := record{
		ID: id, Kind: KindVolume, State: StateCreating, CreatedAt: now, StateSince: now,
		CreatedBy: r.cfg.HostID, Labels: cloneLabels(spec.Labels), Options: spec.Options,
	}
	if !spec.IsView() {
		if used, limit := ix.used(), ix.limit(); used >= limit {
			return record{}, errorf(ErrLimitReached,
				"organization %q has reached its limit of %d volumes (%d in use); delete one or ask for a higher limit",
				r.cfg.Org, limit, used)
		}
		return rec, nil
	}
	target := ix.Entries[spec.Volume]
	switch {
	case target == nil:
		return record{}, errorf(ErrNotFound, "cannot create view %q: volume %q does not exist in organization %q", spec.Name, spec.Volume, r.cfg.Org)
	case target.Kind != KindVolume:
		return record{}, errorf(ErrInvalid, "cannot create view %q: %q is itself a view; point volume= at a volume", spec.Name, spec.Volume)
	case target.State == StateDeleting:
		return record{}, errorf(ErrConflict, "cannot create view %q: volume %q is being deleted", spec.Name, spec.Volume)
	}
	// A view has no data of its own: it is ready at once. Its folder is
	// created by the driver on first mount.
	rec.Kind, rec.State, rec.VolumeID, rec.Subpath = KindView, StateReady, target.ID, spec.Subpath
	return rec, nil
}

// sameSpec checks that an existing entry matches what Create asks for.
func (r *Registry) sameSpec(ix *index, spec Spec, old *record) error {
	var diffs []string
	want := KindVolume
	if spec.IsView() {
		want = KindView
	}
	if old.Kind != want {
		return errorf(ErrExists, "%q already exists as a %s, not a %s; choose another name", spec.Name, old.Kind, want)
	}
	add := func(what, have, asked string) {
		if have != asked {
			diffs = append(diffs, fmt.Sprintf("%s is %s (asked %s)", what, have, asked))
		}
	}
	add("ro", strconv.FormatBool(old.Options.ReadOnly), strconv.FormatBool(spec.Options.ReadOnly))
	add("uid", fmt.Sprint(old.Options.UID), fmt.Sprint(spec.Options.UID))
	add("gid", fmt.Sprint(old.Options.GID), fmt.Sprint(spec.Options.GID))
	add("mode", fmt.Sprintf("%04o", old.Options.Mode), fmt.Sprintf("%04o", spec.Options.Mode))
	if want == KindView {
		vname, _ := ix.byID(old.VolumeID)
		add("volume", strconv.Quote(vname), strconv.Quote(spec.Volume))
		add("subpath", strconv.Quote(old.Subpath), strconv.Quote(spec.Subpath))
	}
	if len(diffs) > 0 {
		return errorf(ErrExists, "%s %q already exists with different options: %s; remove it first or use the same options",
			want, spec.Name, strings.Join(diffs, ", "))
	}
	if old.State == StateDeleting {
		return errorf(ErrConflict, "%s %q is being deleted; try again in a moment", want, spec.Name)
	}
	return nil
}

// finishCreate writes the volume's data root and marks it ready. It is
// idempotent, so a retried Create, or a racer asking for the same volume,
// may run it too. A failure marks the volume error with the reason.
func (r *Registry) finishCreate(ctx context.Context, name string, rec *record) (*index, error) {
	if err := r.writeRoot(ctx, name, rec); err != nil {
		if isCrash(err) {
			return nil, err
		}
		r.markError(name, rec.ID, err)
		return nil, fmt.Errorf("creating volume %q: %w", name, err)
	}
	gone := false
	ix, err := r.update(ctx, "create", func(ix *index) error {
		cur := ix.Entries[name]
		gone = cur == nil || cur.ID != rec.ID
		if gone {
			return errorf(ErrConflict, "volume %q was deleted while it was being created; create it again", name)
		}
		switch cur.State {
		case StateReady:
			return errNoChange
		case StateDeleting:
			return errorf(ErrConflict, "volume %q is being deleted; try again in a moment", name)
		}
		cur.State, cur.Reason, cur.StateSince = StateReady, "", r.now().UTC()
		return nil
	})
	if err != nil {
		if gone {
			r.withdrawRoot(ctx, name, rec.ID)
		}
		return nil, err
	}
	return ix, nil
}

// withdrawRoot deletes the root marker of a create whose volume was deleted
// (and its data possibly purged already) before the marker landed: nothing
// else would ever remove it. The id is gone from the index for good, so no
// one else can be using the prefix.
func (r *Registry) withdrawRoot(ctx context.Context, name, id string) {
	cctx, cancel := r.callCtx(context.WithoutCancel(ctx))
	defer cancel()
	key := r.dataPrefix(id)
	err := r.cfg.Data.Delete(cctx, key)
	log := r.log.WithFields(logrus.Fields{"volume": name, "id": id, "key": key})
	if err != nil && !store.IsNotFound(err) {
		log.WithError(err).Warn("registry: the root marker of a create undone by a delete could not be removed; repair lists it as an orphan")
		return
	}
	log.Info("registry: removed the root marker of a create undone by a delete")
}

// writeRoot writes the volume's root marker: the folder object "<org>/<id>/"
// (the usual S3 folder marker) whose metadata records which volume owns the
// prefix and the root's owner and mode.
func (r *Registry) writeRoot(ctx context.Context, name string, rec *record) error {
	meta := layout.RootMetadata(layout.Owner{Org: r.cfg.Org, Name: name, VolumeID: rec.ID}, rec.Options.RootAttrs(rec.CreatedAt))
	cctx, cancel := r.callCtx(ctx)
	defer cancel()
	key := r.dataPrefix(rec.ID)
	_, err := r.cfg.Data.Put(cctx, key, bytes.NewReader(nil), 0, store.PutOptions{Metadata: meta, ContentType: layout.DirContentType})
	if err != nil {
		return fmt.Errorf("writing its root %q in %s: %w", key, r.cfg.Data, err)
	}
	return r.step(StepCreateData)
}

// markError records why a create failed, best effort: if even that fails,
// the entry stays creating and Repair rolls it back later.
func (r *Registry) markError(name, id string, cause error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.CallTimeout)
	defer cancel()
	_, err := r.update(ctx, "create", func(ix *index) error {
		cur := ix.Entries[name]
		if cur == nil || cur.ID != id || cur.State != StateCreating && cur.State != StateError {
			return errNoChange
		}
		cur.State, cur.Reason, cur.StateSince = StateError, cause.Error(), r.now().UTC()
		return nil
	})
	log := r.log.WithFields(logrus.Fields{"volume": name, "id": id, "reason": cause.Error()})
	if err != nil {
		log.WithError(err).Warn("registry: create failed and could not be marked error; repair will roll it back")
		return
	}
	log.Warn("registry: create failed; volume marked error")
}
