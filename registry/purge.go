package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/store"
)

// Steps of a purge, where tests can simulate a crash.
const (
	StepPurgeBatch = "purge.batch" // one batch of data keys deleted
	StepPurgeData  = "purge.data"  // data and leases deleted, trash record kept
)

// defaultPurgeBatch is how many keys one DeleteMany gets (S3's
// per-request max).
const defaultPurgeBatch = 1000

// Purge removes the data and leases of every deleted entry still in the
// trash, then drops its trash record. It is what Delete starts in the
// background and what Repair resumes; running it twice, or on two hosts at
// once, is harmless. Entries whose purge must still wait (NotBefore, after
// a delete that found expired leases) are purged in the background once
// due: the process that deleted them may have stopped since, and a Purge
// (the Repair at start-up) is the only one to come. It returns the names
// it finished.
func (r *Registry) Purge(ctx context.Context) ([]string, error) {
	ix, _, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	for _, tr := range ix.Trash {
		if r.now().Before(tr.NotBefore) {
			r.purgeInBackground(tr) // not yet
			continue
		}
		if err := r.purgeOne(ctx, tr); err != nil {
			if isCrash(err) {
				return done, err
			}
			errs = append(errs, err)
			continue
		}
		done = append(done, tr.Name)
	}
	return done, errors.Join(errs...)
}

// WaitPurges waits (bounded by ctx) for the background purges this
// Registry's deletes started. A short-lived process (the admin command)
// calls it before Close, which would cancel them and leave the data to the
// next Repair.
func (r *Registry) WaitPurges(ctx context.Context) error {
	done := make(chan struct{})
	go func() { r.purgeWG.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("registry: waiting for the data of deleted volumes to be removed: %w", ctx.Err())
	}
}

// PutOffPurge is a background purge that has not started yet: a delete
// that found an expired lease puts it off until At (see trash).
type PutOffPurge struct {
	Name string
	At   time.Time
}

// PutOffPurges lists this Registry's background purges that wait for their
// time, soonest first, so that a process waiting for them can say what it
// waits for.
func (r *Registry) PutOffPurges() []PutOffPurge {
	r.purgeMu.Lock()
	defer r.purgeMu.Unlock()
	now := r.now()
	var ps []PutOffPurge
	for _, tr := range r.purging {
		if tr.NotBefore.After(now) {
			ps = append(ps, PutOffPurge{Name: tr.Name, At: tr.NotBefore})
		}
	}
	slices.SortFunc(ps, func(a, b PutOffPurge) int { return a.At.Compare(b.At) })
	return ps
}

func (r *Registry) purgeInBackground(tr trashRecord) {
	r.purgeMu.Lock()
	defer r.purgeMu.Unlock()
	if _, running := r.purging[tr.ID]; running || r.bgCtx.Err() != nil {
		return
	}
	r.purging[tr.ID] = tr
	r.bg.Add(1)
	r.purgeWG.Add(1)
	go func() {
		defer r.bg.Done()
		defer r.purgeWG.Done()
		defer func() {
			r.purgeMu.Lock()
			delete(r.purging, tr.ID)
			r.purgeMu.Unlock()
		}()
		if err := sleepCtx(r.bgCtx, tr.NotBefore.Sub(r.now())); err != nil {
			return // closing: Repair resumes it
		}
		if err := r.purgeOne(r.bgCtx, tr); err != nil {
			r.log.WithFields(logrus.Fields{"volume": tr.Name, "id": tr.ID}).WithError(err).
				Warn("registry: background purge failed; repair will resume it")
		}
	}()
}

// purgeOne deletes one trashed entry's data (in batches) and leases, checks
// that nothing is left, and drops the trash record.
func (r *Registry) purgeOne(ctx context.Context, tr trashRecord) error {
	log := r.log.WithFields(logrus.Fields{"volume": tr.Name, "id": tr.ID})
	if tr.DataPrefix != "" {
		// Never let a corrupt record aim a bulk delete at the wrong keys.
		if _, err := uuid.Parse(tr.ID); err != nil || tr.DataPrefix != r.dataPrefix(tr.ID) {
			return fmt.Errorf("registry: trash record for %q has a bad id or prefix (%q, %q); not purging it", tr.Name, tr.ID, tr.DataPrefix)
		}
		n, err := r.deleteAll(ctx, r.cfg.Data, tr.DataPrefix, true)
		if err != nil {
			return fmt.Errorf("registry: purging the data of deleted volume %q: %w", tr.Name, err)
		}
		log.WithField("objects", n).Info("registry: data purged")
	}
	if _, err := r.deleteAll(ctx, r.cfg.Meta, r.leasePrefix(tr.ID), false); err != nil {
		return fmt.Errorf("registry: removing the leases of deleted %s %q: %w", tr.Kind, tr.Name, err)
	}
	if err := r.dropUsage(ctx, tr.ID); err != nil {
		return fmt.Errorf("registry: removing the usage record of deleted %s %q: %w", tr.Kind, tr.Name, err)
	}
	if err := r.step(StepPurgeData); err != nil {
		return err
	}
	_, err := r.update(ctx, "purge", func(ix *index) error {
		for i, t := range ix.Trash {
			if t.ID == tr.ID {
				ix.Trash = append(ix.Trash[:i], ix.Trash[i+1:]...)
				return nil
			}
		}
		return errNoChange
	})
	return err
}

// deleteAll deletes every key under prefix in batches, then lists again to
// confirm that nothing is left (a writer that had not noticed the delete may
// have added keys meanwhile). It reports how many keys it deleted.
func (r *Registry) deleteAll(ctx context.Context, s store.Store, prefix string, hooks bool) (int, error) {
	total := 0
	for pass := 0; pass < 3; pass++ {
		n, err := r.deletePass(ctx, s, prefix, hooks)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
	left, err := r.countKeys(ctx, s, prefix)
	if err == nil && left > 0 {
		err = fmt.Errorf("%d keys still under %q in %s after 3 passes; something is still writing there", left, prefix, s)
	}
	return total, err
}

// purgePassTimeout bounds one listing-and-deleting pass over a prefix. Each
// request inside has its own CallTimeout; this only keeps a pass over a
// huge volume from running unbounded (a later Repair resumes it).
const purgePassTimeout = time.Hour

// deletePass lists the keys under prefix and deletes them in batches.
func (r *Registry) deletePass(ctx context.Context, s store.Store, prefix string, hooks bool) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, purgePassTimeout)
	defer cancel()
	n := 0
	batch := make([]string, 0, r.purgeBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		cctx, cancel := r.callCtx(ctx)
		defer cancel()
		if err := s.DeleteMany(cctx, batch); err != nil {
			return err
		}
		n += len(batch)
		batch = batch[:0]
		if hooks {
			return r.step(StepPurgeBatch)
		}
		return nil
	}
	for obj, err := range s.List(ctx, store.ListOptions{Prefix: prefix}) {
		if err != nil {
			return n, err
		}
		batch = append(batch, obj.Key)
		if len(batch) == r.purgeBatch {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}

func (r *Registry) countKeys(ctx context.Context, s store.Store, prefix string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, purgePassTimeout)
	defer cancel()
	n := 0
	for _, err := range s.List(ctx, store.ListOptions{Prefix: prefix}) {
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
