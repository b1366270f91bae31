package s3fs

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/s3vol/s3vol/internal/parallel"
	"github.com/s3vol/s3vol/store"
)

// entry is what a directory knows about one of its entries.
type entry struct {
	kind  kind
	attrs attrs
}

// listing is a directory's cached listing: every entry, from one delimited
// LIST, kept up to date by this mount's own changes and refetched once it
// is older than the TTL. It also answers lookups, positive and negative,
// while fresh. Guarded by the directory's mu.
type listing struct {
	at        time.Time     // when its LIST started (ended, for a slow one)
	took      time.Duration // how long its LIST took
	entries   map[string]*entry
	hasMarker bool
}

// listCall is a LIST in flight that concurrent callers share.
type listCall struct {
	done chan struct{}
	l    *listing
	err  error
	// replay holds the local changes made while the LIST ran; they are
	// applied to its result, which may predate them.
	replay []func(*listing)
}

// list returns a fresh listing of d, fetching it if needed. Concurrent
// callers share one fetch.
func (d *dirNode) list(ctx context.Context) (*listing, error) {
	return d.fetch(ctx, false)
}

// fetch is list; ahead fetches a new listing even when the cached one is
// still fresh.
func (d *dirNode) fetch(ctx context.Context, ahead bool) (*listing, error) {
	d.mu.Lock()
	if l := d.listing; l != nil && d.fsys.fresh(l.at) && !ahead {
		d.mu.Unlock()
		return l, nil
	}
	if c := d.listCall; c != nil {
		d.mu.Unlock()
		<-c.done
		return c.l, c.err
	}
	c := &listCall{done: make(chan struct{})}
	d.listCall = c
	old := d.listing
	d.mu.Unlock()

	l, err := d.fetchListing(ctx, old)

	d.mu.Lock()
	d.listCall = nil
	if err == nil {
		for _, apply := range c.replay {
			apply(l)
		}
		d.addPendingChildren(l)
		d.listing = l
		d.staleLookups = 0
		if l.hasMarker {
			d.hasMarker = true
		}
	}
	c.l, c.err = l, err
	d.mu.Unlock()
	close(c.done)
	return l, err
}

// applyLocal records a change this mount made to d's entries in the
// cached listing, and in the listing being fetched if there is one.
func (d *dirNode) applyLocal(change func(*listing)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.listing != nil {
		change(d.listing)
	}
	if d.listCall != nil {
		d.listCall.replay = append(d.listCall.replay, change)
	}
}

func (d *dirNode) setEntry(name string, k kind, a attrs) {
	d.applyLocal(func(l *listing) { l.entries[name] = &entry{kind: k, attrs: a} })
}

func (d *dirNode) removeEntry(name string) {
	d.applyLocal(func(l *listing) { delete(l.entries, name) })
}

// cachedEntry answers a lookup from a fresh listing: found is the entry or
// nil, and known says whether the listing could answer at all. When the
// listing has expired but a small one is being fetched (ahead of expiry,
// or by another caller), the lookup waits for it: one LIST shared by every
// lookup beats a HEAD and a LIST for each name. An expired small listing
// with no fetch under way starts one in the background once the lookups
// answered name by name have cost as much as that LIST will: they pay for
// their own names, the next ones are answered from the new listing.
func (d *dirNode) cachedEntry(ctx context.Context, name string) (e entry, found, known bool) {
	d.mu.Lock()
	l, call := d.listing, d.listCall
	if l != nil && d.fsys.fresh(l.at) {
		d.refreshAheadLocked(l)
		defer d.mu.Unlock()
		return lookIn(l, name)
	}
	if l != nil && call == nil {
		// Relist once the lookups paid for name by name have cost as
		// many requests as the LIST pages of a new listing: a directory
		// merely passed through once per TTL is not relisted each time.
		d.staleLookups++
		if d.staleLookups >= len(l.entries)/store.DefaultPage+1 {
			d.refreshLocked(l)
		}
	}
	small := l != nil && len(l.entries) <= refreshAheadMax
	d.mu.Unlock()
	if call == nil || !small {
		return entry{}, false, false
	}
	select {
	case <-call.done:
	case <-ctx.Done():
		return entry{}, false, false
	}
	if call.err != nil {
		return entry{}, false, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.listing == nil {
		return entry{}, false, false
	}
	return lookIn(d.listing, name)
}

// lookIn answers a lookup from l; called with d.mu held.
func lookIn(l *listing, name string) (e entry, found, known bool) {
	if p := l.entries[name]; p != nil {
		return *p, true, true
	}
	return entry{}, false, true
}

// refreshAheadMax is the largest listing refreshed ahead of its expiry
// (ten LIST pages): bigger ones are refetched only when asked for.
const refreshAheadMax = 10 * store.DefaultPage

// refreshAheadLocked starts fetching a new listing in the background
// shortly before the one in use expires, so that a directory in constant
// use (files created or opened one after another) keeps answering lookups
// from a listing younger than the TTL instead of paying a HEAD and a LIST
// for each name once it expires. It starts when the time left is four
// times what the last LIST took (at half the TTL for a listing this mount
// made itself, such as a new directory's), and at half the TTL at the
// earliest: every refresh lists the whole directory, so starting early
// costs the store, and a LIST slows down when the store is busy. Called
// with d.mu held.
func (d *dirNode) refreshAheadLocked(l *listing) {
	f := d.fsys
	ttl := f.opts.MetadataTTL
	start := ttl / 2
	if l.took > 0 {
		start = max(start, ttl-4*l.took)
	}
	if f.clock().Sub(l.at) >= start {
		d.refreshLocked(l)
	}
}

// refreshLocked fetches a new listing of d in the background, unless one
// is under way or the directory is too big to list for lookups' sake.
// Called with d.mu held.
func (d *dirNode) refreshLocked(l *listing) {
	f := d.fsys
	if d.refreshing || d.listCall != nil || len(l.entries) > refreshAheadMax {
		return
	}
	d.refreshing = true
	f.background.Go(func() {
		if _, err := d.fetch(context.Background(), true); err != nil {
			f.log.WithError(err).Debug("refreshing a listing ahead of its expiry failed")
		}
		d.mu.Lock()
		d.refreshing = false
		d.mu.Unlock()
	})
}

// addPendingChildren adds the files created here but not yet committed:
// the store does not list them yet. Called with d.mu held.
func (d *dirNode) addPendingChildren(l *listing) {
	for name, ch := range d.Children() {
		if fn, ok := ch.Operations().(*fileNode); ok {
			if a, pending := fn.pendingAttrs(); pending {
				l.entries[name] = &entry{kind: kindFile, attrs: a}
			}
		}
	}
}

// fetchListing LISTs the directory and decodes its entries, keeping the
// attributes already known for unchanged objects.
func (d *dirNode) fetchListing(ctx context.Context, old *listing) (*listing, error) {
	f := d.fsys
	rel, ok := d.path()
	if !ok {
		return nil, store.NewError("list", "", store.ErrNotFound, nil)
	}
	ctx, cancel := f.transferCtx(ctx)
	defer cancel()
	prefix := f.dirPrefix(rel)
	l := &listing{at: f.clock(), entries: make(map[string]*entry)}
	started := time.Now()
	for obj, err := range f.st.List(ctx, store.ListOptions{Prefix: prefix, Delimiter: "/", WithMetadata: true}) {
		if err != nil {
			return nil, err
		}
		d.addListed(l, prefix, obj)
	}
	d.reuseKnownAttrs(l, old)
	f.statUnknown(ctx, prefix, l)
	// The TTL runs from the LIST's start, so that a change made elsewhere
	// shows within the TTL; but a listing that takes more than half the
	// TTL (a big directory, a busy store) counts from its end: it could
	// take longer than the TTL, be stale on arrival and be fetched again
	// by every readdir. There a change shows within the TTL plus the time
	// one listing takes.
	l.took = time.Since(started)
	if l.took > f.opts.MetadataTTL/2 {
		l.at = l.at.Add(l.took)
	}
	return l, nil
}

// addListed adds one LIST result to l, hiding keys that cannot be paths.
func (d *dirNode) addListed(l *listing, prefix string, obj store.Object) {
	f := d.fsys
	name := obj.Key[len(prefix):]
	if obj.IsPrefix {
		name = strings.TrimSuffix(name, "/")
		if !validName(name) {
			f.odd.report(f, obj.Key, "invalid directory name")
			return
		}
		if e := l.entries[name]; e != nil && e.kind != kindDir {
			f.odd.report(f, prefix+name, "a file and a directory share this name; the directory is shown")
		}
		l.entries[name] = &entry{kind: kindDir, attrs: f.defaultAttrs(kindDir, store.Object{LastModified: f.started})}
		return
	}
	if name == "" {
		l.hasMarker = true
		return
	}
	if !validName(name) {
		f.odd.report(f, obj.Key, "invalid file name")
		return
	}
	if e := l.entries[name]; e != nil {
		return // a directory of the same name came first; keep it
	}
	if obj.Metadata != nil {
		// The listing carried the metadata (store.ListOptions.WithMetadata).
		k, a := f.attrsFromObject(obj, false)
		l.entries[name] = &entry{kind: k, attrs: a}
		return
	}
	l.entries[name] = &entry{kind: kindFile, attrs: f.defaultAttrs(kindFile, obj)}
}

// reuseKnownAttrs keeps metadata learnt earlier (from a Stat, or our own
// writes) for objects whose version has not changed, so that a relisting
// does not fall back to default modes.
func (d *dirNode) reuseKnownAttrs(l, old *listing) {
	children := d.Children()
	for name, e := range l.entries {
		if e.attrs.metaKnown {
			continue // the listing carried metadata: it is the newest
		}
		if ch := children[name]; ch != nil {
			if k, a, ok := knownAttrs(ch.Operations()); ok && (k == kindDir) == (e.kind == kindDir) {
				if k == kindDir || a.sameVersion(&e.attrs) {
					e.kind, e.attrs = k, a
					continue
				}
			}
		}
		if old == nil {
			continue
		}
		if o := old.entries[name]; o != nil && o.attrs.metaKnown && (o.kind == kindDir) == (e.kind == kindDir) {
			if o.kind == kindDir || o.attrs.sameVersion(&e.attrs) {
				e.kind, e.attrs = o.kind, o.attrs
			}
		}
	}
}

// symlinkMax is the longest symlink target (PATH_MAX - 1).
const symlinkMax = 4095

// statUnknown reads the metadata of the listed entries whose metadata is
// not known yet, in parallel: a LIST carries none unless the store can
// list metadata (store.ListOptions.WithMetadata), and without it a
// symlink would show as a file, a chmod or a preserved mtime would be
// lost from `ls -l`, and rsync or make would see every file as changed.
// Known metadata is kept across listings while the content is unchanged,
// so a warm listing costs no HEAD. With FastListing, files keep the
// listing's defaults (only objects that could be symlinks are read), and
// directories always do. A failed HEAD leaves the defaults.
func (f *fsys) statUnknown(ctx context.Context, prefix string, l *listing) {
	var todo []string
	for name, e := range l.entries {
		if e.attrs.metaKnown {
			continue
		}
		if f.opts.FastListing && (e.kind == kindDir || e.attrs.size == 0 || e.attrs.size > symlinkMax) {
			continue
		}
		todo = append(todo, name)
	}
	slices.Sort(todo)
	var mu sync.Mutex
	// A failed HEAD leaves the defaults: no call fails, and none stops the others.
	_ = parallel.Run(ctx, len(todo), f.opts.StoreConcurrency, func(ctx context.Context, i int) error {
		name := todo[i]
		mu.Lock()
		isDir := l.entries[name].kind == kindDir
		mu.Unlock()
		key := prefix + name
		if isDir {
			key += "/"
		}
		obj, err := f.st.Stat(ctx, key)
		var e entry
		switch {
		case isDir && store.IsNotFound(err):
			// An implicit directory: the defaults are its attributes.
			e = entry{kind: kindDir, attrs: f.defaultAttrs(kindDir, store.Object{LastModified: f.started})}
			e.attrs.metaKnown = true
		case err != nil:
			return nil
		default:
			e.kind, e.attrs = f.attrsFromObject(obj, isDir)
			if isDir {
				e.attrs.size = 0
			}
		}
		mu.Lock()
		l.entries[name] = &e
		mu.Unlock()
		return nil
	})
}
