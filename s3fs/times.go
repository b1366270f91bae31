package s3fs

import (
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// The times of an entry. mtime is the last change of the content, ctime
// the last change of anything (content, mode, owner, times, name), both
// stored with the object (s3fs-fuse's x-amz-meta-mtime and -ctime).
// atime is stored only once set explicitly (utimes, touch -a): reads do
// not update it, which would cost a write per read. A directory's mtime
// and ctime advance when an entry is created, renamed or removed in it on
// this mount; those are kept in memory only (storing them would cost a
// write of the directory's marker per entry created), and survive
// relistings while the marker is unchanged.

// times returns the mtime, atime and ctime shown for a: objects written
// without them show their mtime for both.
func (a *attrs) times() (mtime, atime, ctime time.Time) {
	mtime = a.mtime
	if mtime.IsZero() {
		mtime = time.Unix(0, 0)
	}
	atime, ctime = a.atime, a.ctime
	if atime.IsZero() {
		atime = mtime
	}
	if ctime.IsZero() {
		ctime = mtime
	}
	return mtime, atime, ctime
}

// applySetattr applies mode, owner and time changes to a, and reports
// whether anything that is stored changed; any change advances ctime.
func applySetattr(a *attrs, in *fuse.SetAttrIn) bool {
	changed := false
	if m, ok := in.GetMode(); ok {
		a.perm, changed = m&0o7777, true
	}
	if uid, ok := in.GetUID(); ok {
		a.uid, changed = uid, true
	}
	if gid, ok := in.GetGID(); ok {
		a.gid, changed = gid, true
	}
	if t, ok := in.GetMTime(); ok {
		a.mtime, changed = t, true
	}
	if t, ok := in.GetATime(); ok {
		a.atime, changed = t, true
	}
	if changed {
		a.ctime = time.Now()
	}
	return changed
}

// entriesChanged advances d's mtime and ctime: an entry was created,
// renamed or removed in it.
func (d *dirNode) entriesChanged() {
	now := time.Now()
	d.mu.Lock()
	d.attrs.mtime, d.attrs.ctime = now, now
	d.localTimes = true
	d.mu.Unlock()
}

// keepLocalTimes keeps in a the times d advanced here when a describes
// the same marker as d's attributes (a relisting); a changed marker's
// times win. Called with d.mu held.
func (d *dirNode) keepLocalTimes(a *attrs) {
	if !d.localTimes {
		return
	}
	if !a.sameVersion(&d.attrs) {
		d.localTimes = false
		return
	}
	a.mtime, a.ctime = d.attrs.mtime, d.attrs.ctime
}
