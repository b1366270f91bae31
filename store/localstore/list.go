package localstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"sort"
	"strings"

	"github.com/s3vol/s3vol/store"
)

// List streams keys in ascending byte order with S3's prefix, delimiter and
// StartAfter semantics (see "Listing" in the package comment).
func (s *Store) List(ctx context.Context, opts store.ListOptions) iter.Seq2[store.Object, error] {
	return func(yield func(store.Object, error) bool) {
		l := &lister{s: s, ctx: ctx, opts: opts, yield: yield}
		// The prefix's last "/" splits it into the directory to read and a
		// filter on that directory's entries.
		cut := strings.LastIndexByte(opts.Prefix, '/') + 1
		err := l.walk(dirOf(opts.Prefix[:cut]), opts.Prefix[:cut], opts.Prefix[cut:])
		if err != nil && !errors.Is(err, errStop) {
			yield(store.Object{}, wrapErr("list", opts.Prefix, err))
		}
	}
}

// errStop ends a walk when the consumer stops iterating.
var errStop = errors.New("listing stopped")

type lister struct {
	s      *Store
	ctx    context.Context
	opts   store.ListOptions
	yield  func(store.Object, error) bool
	lastCP string // the last common prefix returned
}

// sortedEntry is a directory entry with the key (or key prefix, for a
// directory: its key plus "/") by which it sorts.
type sortedEntry struct {
	entry
	key string
}

// walk lists directory dir, whose keys start with keyPrefix, restricted to
// entries whose component starts with namePrefix.
func (l *lister) walk(dir, keyPrefix, namePrefix string) error {
	ents, err := l.readSorted(dir, keyPrefix, namePrefix)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := l.ctx.Err(); err != nil {
			return err
		}
		if e.isDir {
			err = l.visitDir(dir+"/"+e.name, e.key)
		} else {
			err = l.visitKey(dir+"/"+e.name, e.key)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// readSorted reads a directory and sorts its entries by key.
func (l *lister) readSorted(dir, keyPrefix, namePrefix string) ([]sortedEntry, error) {
	d, err := l.s.root.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // nothing under this prefix (or pruned meanwhile)
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // pruned between the open and the read: now empty
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	ents := make([]sortedEntry, 0, len(names))
	for _, n := range names {
		e, ok, err := l.s.decodeEntry(n)
		if err != nil {
			return nil, err
		}
		if !ok || !strings.HasPrefix(e.comp, namePrefix) {
			continue
		}
		k := keyPrefix + e.comp
		if e.isDir {
			k += "/"
		}
		ents = append(ents, sortedEntry{entry: e, key: k})
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].key < ents[j].key })
	return ents, nil
}

// visitKey returns an object, or the common prefix it rolls up into.
func (l *lister) visitKey(path, key string) error {
	if cp, ok := l.commonPrefix(key); ok {
		return l.emitPrefix(cp, "")
	}
	if key <= l.opts.StartAfter {
		return nil
	}
	f, err := l.s.root.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // deleted since the directory was read
	}
	if err != nil {
		return err
	}
	h, size, err := readHeader(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("reading object %q: %w", key, err)
	}
	o := h.object(size, l.opts.WithMetadata) // the header is read anyway
	o.Key = key
	return l.emit(o)
}

// visitDir descends into a directory whose keys all start with prefix,
// unless none of them can be listed.
func (l *lister) visitDir(path, prefix string) error {
	sa := l.opts.StartAfter
	if prefix < sa && !strings.HasPrefix(sa, prefix) {
		return nil // every key in it sorts before StartAfter
	}
	if cp, ok := l.commonPrefix(prefix); ok {
		// Every key in it rolls up into cp: one object is enough to show it.
		if cp == l.lastCP || cp <= sa {
			return nil
		}
		return l.emitPrefix(cp, path)
	}
	return l.walk(path, prefix, "")
}

// commonPrefix is the common prefix key (or every key under a directory
// prefix) rolls up into, if the delimiter occurs after the list prefix.
func (l *lister) commonPrefix(key string) (string, bool) {
	d := l.opts.Delimiter
	if d == "" {
		return "", false
	}
	i := strings.Index(key[len(l.opts.Prefix):], d)
	if i < 0 {
		return "", false
	}
	return key[:len(l.opts.Prefix)+i+len(d)], true
}

// emitPrefix returns common prefix cp once; with a directory path, only if
// the directory holds an object.
func (l *lister) emitPrefix(cp, path string) error {
	if cp == l.lastCP || cp <= l.opts.StartAfter {
		return nil
	}
	if path != "" {
		ok, err := l.holdsObject(path)
		if err != nil || !ok {
			return err
		}
	}
	l.lastCP = cp
	return l.emit(store.Object{Key: cp, IsPrefix: true})
}

// holdsObject reports whether a directory's subtree holds an object file,
// reading no more of it than needed.
func (l *lister) holdsObject(dir string) (bool, error) {
	d, err := l.s.root.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer d.Close()
	for {
		if err := l.ctx.Err(); err != nil {
			return false, err
		}
		names, err := d.Readdirnames(64)
		if err == io.EOF || errors.Is(err, fs.ErrNotExist) {
			return false, nil // read to the end, or pruned while open
		}
		if err != nil {
			return false, fmt.Errorf("reading %s: %w", dir, err)
		}
		for _, n := range names {
			// Suffixes tell objects from directories: no need to decode.
			switch {
			case isObjectName(n):
				return true, nil
			case isDirName(n):
				if ok, err := l.holdsObject(dir + "/" + n); ok || err != nil {
					return ok, err
				}
			}
		}
	}
}

func (l *lister) emit(o store.Object) error {
	if !l.yield(o, nil) {
		return errStop
	}
	return nil
}
