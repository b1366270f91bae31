package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/s3vol/s3vol/store"
)

// LeaseInfo is one process's lease on an entry, as stored. A host may run
// several processes that mount (the daemon, `s3vol mount`): each holds its
// own lease object, so one releasing never drops another's hold.
type LeaseInfo struct {
	EntryID   string    `json:"entryId"`
	Host      string    `json:"host"`
	Instance  string    `json:"instance,omitempty"` // the process (Registry) holding it
	Count     int       `json:"count"`              // mounts by that process
	TTL       string    `json:"ttl"`
	RenewedAt time.Time `json:"renewedAt"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Live reports whether the lease has not expired at now.
func (l LeaseInfo) Live(now time.Time) bool { return now.Before(l.ExpiresAt) }

// Lease is a mount's hold on an entry. While any Lease of this process on
// an entry is held, a heartbeat keeps the process's lease object alive and
// no host can delete the entry.
type Lease struct {
	r     *Registry
	hl    *hostLease
	entry Entry
	once  sync.Once
}

// Entry returns the entry as it was when the lease was acquired.
func (l *Lease) Entry() Entry { return l.entry }

// hostLease is this host's lease on one entry, shared by its Lease handles.
type hostLease struct {
	id    string
	mu    sync.Mutex // serializes acquire/release I/O for this entry
	count int        // Lease handles held; guarded by Registry.leaseMu
	refs  int        // count plus acquires in flight; guarded by leaseMu
	stop  context.CancelFunc
	done  chan struct{}
	fence fenceState
	// writeMu serializes writes of the lease object, each carrying the
	// count read just before it, so the last write has the current count.
	writeMu sync.Mutex
}

// stepLeaseDelete is the step just before the last release deletes the
// lease object, where tests interleave other calls.
const stepLeaseDelete = "lease.delete"

func (r *Registry) leasePrefix(entryID string) string {
	return r.orgPrefix() + "leases/" + entryID + "/"
}

// leaseKey is this process's lease object on an entry: "<host>@<instance>"
// ('@' is not allowed in host ids, so the host can be read back).
func (r *Registry) leaseKey(entryID string) string {
	return r.leasePrefix(entryID) + r.cfg.HostID + "@" + r.instance
}

// leaseHost reads the host id back from a lease object's key.
func leaseHost(key string) string {
	name := key[strings.LastIndexByte(key, '/')+1:]
	host, _, _ := strings.Cut(name, "@")
	return host
}

func sortLeases(ls []LeaseInfo) {
	sort.Slice(ls, func(i, j int) bool {
		if ls[i].Host != ls[j].Host {
			return ls[i].Host < ls[j].Host
		}
		return ls[i].Instance < ls[j].Instance
	})
}

// Acquire takes a lease on a ready volume or view for a mount on this host.
// Each call must be paired with one Release; the lease object is written on
// the first and deleted on the last.
func (r *Registry) Acquire(ctx context.Context, nameOrID string) (*Lease, error) {
	e, err := r.Get(ctx, nameOrID)
	if err != nil {
		return nil, err
	}
	hl := r.holdLease(e.ID)
	hl.mu.Lock()
	defer hl.mu.Unlock()
	first := r.leaseCount(hl) == 0
	if first {
		if e, err = r.acquireFirst(ctx, hl, e); err != nil {
			r.dropLease(hl)
			return nil, err
		}
	}
	r.leaseMu.Lock()
	hl.count++
	r.leaseMu.Unlock()
	if first {
		r.startHeartbeat(hl)
	} else if err := r.renewLease(ctx, hl); err != nil {
		// The heartbeat keeps the lease alive; the count is informational.
		r.log.WithField("id", e.ID).WithError(err).Warn("registry: updating the lease's mount count failed")
	}
	return &Lease{r: r, hl: hl, entry: e}, nil
}

// acquireFirst writes this host's lease object, then re-reads the index: if
// the entry is still there and ready, any delete that starts later will see
// the lease; if a delete got in first, the lease is withdrawn.
func (r *Registry) acquireFirst(ctx context.Context, hl *hostLease, e Entry) (Entry, error) {
	if e.State != StateReady {
		return Entry{}, r.notMountable(e)
	}
	hl.fence.reset() // a fresh hold: nothing lost, nothing renewed yet
	if err := r.renewLease(ctx, hl); err != nil {
		return Entry{}, err
	}
	ix, _, err := r.load(ctx)
	if err == nil {
		if name, rec := ix.byID(e.ID); rec == nil {
			err = r.notFound(e.Name)
		} else if e = r.entry(ix, name, rec); e.State != StateReady {
			err = r.notMountable(e)
		}
	}
	if err != nil {
		r.deleteLease(e.ID)
		return Entry{}, err
	}
	return e, nil
}

func (r *Registry) notMountable(e Entry) error {
	if e.State == StateError {
		return errorf(ErrConflict, "%s %q cannot be mounted: its creation failed: %s", e.Kind, e.Name, e.Reason)
	}
	return errorf(ErrConflict, "%s %q cannot be mounted while it is %s; try again in a moment", e.Kind, e.Name, e.State)
}

// Release ends this handle's hold. The last Release on this host stops the
// heartbeat and deletes the lease object. Releasing twice is harmless.
func (l *Lease) Release(ctx context.Context) error {
	var err error
	l.once.Do(func() { err = l.r.release(ctx, l.hl) })
	return err
}

func (r *Registry) release(ctx context.Context, hl *hostLease) error {
	hl.mu.Lock()
	defer hl.mu.Unlock()
	r.leaseMu.Lock()
	hl.count--
	count := hl.count
	r.leaseMu.Unlock()
	if count > 0 {
		r.dropLease(hl)
		return r.renewLease(ctx, hl)
	}
	hl.stopHeartbeat()
	// Keep this hostLease in the map until its object is deleted: an
	// Acquire arriving meanwhile must queue on hl.mu, not make a second
	// hostLease whose PUT this DELETE could then undo.
	defer r.dropLease(hl)
	if err := r.step(stepLeaseDelete); err != nil {
		return err
	}
	cctx, cancel := r.callCtx(ctx)
	defer cancel()
	if err := r.cfg.Meta.Delete(cctx, r.leaseKey(hl.id)); err != nil {
		return fmt.Errorf("registry: releasing the lease on %s: %w (it expires in %s)", hl.id, err, r.cfg.LeaseTTL)
	}
	return nil
}

// holdLease returns this host's lease on an entry, creating it, and counts
// the caller as a reference until dropLease.
func (r *Registry) holdLease(id string) *hostLease {
	r.leaseMu.Lock()
	defer r.leaseMu.Unlock()
	hl := r.leases[id]
	if hl == nil {
		hl = &hostLease{id: id}
		r.leases[id] = hl
	}
	hl.refs++
	return hl
}

// dropLease drops a reference taken by holdLease; the map entry goes when
// nothing holds or is acquiring the lease.
func (r *Registry) dropLease(hl *hostLease) {
	r.leaseMu.Lock()
	defer r.leaseMu.Unlock()
	hl.refs--
	if hl.refs == 0 && r.leases[hl.id] == hl {
		delete(r.leases, hl.id)
	}
}

func (r *Registry) leaseCount(hl *hostLease) int {
	r.leaseMu.Lock()
	defer r.leaseMu.Unlock()
	return hl.count
}

func (r *Registry) startHeartbeat(hl *hostLease) {
	ctx, cancel := context.WithCancel(r.bgCtx)
	hl.stop, hl.done = cancel, make(chan struct{})
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		defer close(hl.done)
		r.heartbeat(ctx, hl)
	}()
}

// stopHeartbeat stops the heartbeat and waits for it; safe to call twice.
func (hl *hostLease) stopHeartbeat() {
	if hl.stop != nil {
		hl.stop()
		<-hl.done
	}
}

// heartbeat renews the lease every third of the TTL, so two renewals may
// fail before the fence closes (see fence.go). After a failure it retries
// sooner, to reopen the fence soon after the store is back.
func (r *Registry) heartbeat(ctx context.Context, hl *hostLease) {
	every, retry := r.cfg.LeaseTTL/3, max(r.cfg.LeaseTTL/12, 10*time.Millisecond)
	t := time.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		next := every
		err := r.beat(ctx, hl)
		if ctx.Err() != nil {
			return // stopped: not a failed renewal
		}
		if r.cfg.OnHeartbeat != nil {
			r.cfg.OnHeartbeat(err)
		}
		if err != nil {
			next = retry
		}
		t.Reset(next)
	}
}

// beat renews the lease once and logs the fence's transitions.
func (r *Registry) beat(ctx context.Context, hl *hostLease) error {
	log := r.log.WithField("id", hl.id)
	if hl.fence.isLost() {
		return nil // deleted elsewhere: nothing left to renew
	}
	start := r.now()
	expired := r.checkFence(hl, start.Add(-fenceMargin(r.cfg.LeaseTTL)), hl.id) != nil // past the TTL itself
	err := r.writeLeaseOf(ctx, hl)
	if err == nil && expired {
		// Another host may have deleted the entry while the lease was
		// expired: writes may resume only if it is still there.
		err = r.stillMountable(ctx, hl)
	}
	f := &hl.fence
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		if hl.fence.isLost() {
			log.WithError(err).Error("registry: the volume was deleted by another host while this host could not renew its mount lease; its writes stay refused: unmount it")
			return err
		}
		ferr := r.checkFence(hl, r.now(), hl.id)
		f.mu.Lock()
		first := ferr != nil && !f.fenced
		f.fenced = f.fenced || ferr != nil
		f.mu.Unlock()
		if first {
			log.WithError(err).WithField("cause", ferr.Error()).Error("registry: mount lease not renewed in time; writes to this volume are refused (EROFS or EIO) until it is")
		} else {
			log.WithError(err).Warn("registry: lease renewal failed; retrying")
		}
		return err
	}
	f.renewed(start)
	f.mu.Lock()
	reopened := f.fenced
	f.fenced = false
	f.mu.Unlock()
	if reopened {
		log.Warn("registry: mount lease renewed again; writes to this volume are allowed again")
	}
	return nil
}

// stillMountable checks, after renewing an expired lease, that the entry
// still exists and is ready. An entry deleted meanwhile fences the lease for
// good (its data is being purged); one being deleted keeps it fenced for
// now.
func (r *Registry) stillMountable(ctx context.Context, hl *hostLease) error {
	ix, _, err := r.load(ctx)
	if err != nil {
		return err
	}
	name, rec := ix.byID(hl.id)
	switch {
	case rec == nil:
		lost := &fencedError{msg: fmt.Sprintf("writes to %s refused: it was deleted by another host while this host could not renew its mount lease; unmount it", hl.id)}
		hl.fence.mu.Lock()
		hl.fence.lost = lost
		hl.fence.mu.Unlock()
		return lost
	case rec.State != StateReady:
		return fmt.Errorf("registry: %q is %s after its lease expired; writes stay refused", name, rec.State)
	}
	return nil
}

// renewLease writes the lease object and, on success, records the renewal
// (from the time the write started, as the expiry it wrote does).
func (r *Registry) renewLease(ctx context.Context, hl *hostLease) error {
	start := r.now()
	if err := r.writeLeaseOf(ctx, hl); err != nil {
		return err
	}
	hl.fence.renewed(start)
	return nil
}

// writeLeaseOf writes hl's lease object with its current mount count (at
// least 1: the first Acquire writes before counting itself).
func (r *Registry) writeLeaseOf(ctx context.Context, hl *hostLease) error {
	hl.writeMu.Lock()
	defer hl.writeMu.Unlock()
	return r.writeLease(ctx, hl.id, max(r.leaseCount(hl), 1))
}

// writeLease writes (or renews) this host's lease object on an entry.
func (r *Registry) writeLease(ctx context.Context, id string, count int) error {
	now := r.now().UTC()
	info := LeaseInfo{EntryID: id, Host: r.cfg.HostID, Instance: r.instance, Count: count, TTL: r.cfg.LeaseTTL.String(),
		RenewedAt: now, ExpiresAt: now.Add(r.cfg.LeaseTTL)}
	data, err := json.Marshal(info)
	if err != nil {
		return err
	}
	cctx, cancel := r.callCtx(ctx)
	defer cancel()
	_, err = r.cfg.Meta.Put(cctx, r.leaseKey(id), bytes.NewReader(data), int64(len(data)), store.PutOptions{ContentType: "application/json"})
	if err != nil {
		return fmt.Errorf("registry: writing the lease on %s: %w", id, err)
	}
	return nil
}

// deleteLease withdraws this host's lease object, best effort (it expires
// anyway).
func (r *Registry) deleteLease(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.CallTimeout)
	defer cancel()
	if err := r.cfg.Meta.Delete(ctx, r.leaseKey(id)); err != nil {
		r.log.WithField("id", id).WithError(err).Warn("registry: withdrawing a lease failed; it expires by itself")
	}
}

// Leases returns every host's lease on an entry, live or expired, sorted by
// host: one LIST and one GET per host.
func (r *Registry) Leases(ctx context.Context, nameOrID string) ([]LeaseInfo, error) {
	e, err := r.Get(ctx, nameOrID)
	if err != nil {
		return nil, err
	}
	return r.readLeases(ctx, e.ID)
}

// AllLeases returns every lease of the organization, live or expired, by
// entry id: one LIST for the organization (a page per 1,000 leases) and one
// GET per lease, however many entries there are.
func (r *Registry) AllLeases(ctx context.Context) (map[string][]LeaseInfo, error) {
	prefix := r.orgPrefix() + "leases/"
	lctx, cancel := r.callCtx(ctx)
	defer cancel()
	out := map[string][]LeaseInfo{}
	for obj, err := range r.cfg.Meta.List(lctx, store.ListOptions{Prefix: prefix}) {
		if err != nil {
			return nil, fmt.Errorf("registry: listing the leases of organization %q: %w", r.cfg.Org, err)
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(obj.Key, prefix), "/")
		l, err := r.readLease(lctx, obj)
		if store.IsNotFound(err) {
			continue // released since the listing
		}
		if err != nil {
			return nil, err
		}
		out[id] = append(out[id], l)
	}
	for _, ls := range out {
		sortLeases(ls)
	}
	return out, nil
}

// liveLeases returns the leases on an entry that have not expired, and
// whether expired ones were found too: a host that lost contact may have
// been writing until shortly before its lease expired.
func (r *Registry) liveLeases(ctx context.Context, id string) (live []LeaseInfo, expired bool, err error) {
	all, err := r.readLeases(ctx, id)
	if err != nil {
		return nil, false, err
	}
	now := r.now()
	for _, l := range all {
		if l.Live(now) {
			live = append(live, l)
		} else {
			expired = true
		}
	}
	return live, expired, nil
}

func (r *Registry) readLeases(ctx context.Context, id string) ([]LeaseInfo, error) {
	lctx, cancel := r.callCtx(ctx)
	defer cancel()
	var out []LeaseInfo
	for obj, err := range r.cfg.Meta.List(lctx, store.ListOptions{Prefix: r.leasePrefix(id)}) {
		if err != nil {
			return nil, fmt.Errorf("registry: listing the leases on %s: %w", id, err)
		}
		l, err := r.readLease(lctx, obj)
		if store.IsNotFound(err) {
			continue // released since the listing
		}
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	sortLeases(out)
	return out, nil
}

func (r *Registry) readLease(ctx context.Context, obj store.Object) (LeaseInfo, error) {
	key := obj.Key
	rc, _, err := r.cfg.Meta.Get(ctx, key, store.GetOptions{})
	if err != nil {
		return LeaseInfo{}, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 64<<10))
	if err != nil {
		return LeaseInfo{}, fmt.Errorf("registry: reading lease %q: %w", key, err)
	}
	var l LeaseInfo
	if err := json.Unmarshal(data, &l); err != nil {
		// An unreadable lease counts as live until it ages out by the
		// store's clock: better to refuse a delete than to delete a
		// mounted volume.
		return LeaseInfo{Host: leaseHost(key), Count: 1, ExpiresAt: obj.LastModified.Add(r.cfg.LeaseTTL)}, nil
	}
	return l, nil
}
