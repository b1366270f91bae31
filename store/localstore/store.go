package localstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/store"
)

// formatLine identifies the on-disk format (see the package comment).
const formatLine = "s3vol-localstore 1\n"

// staleTemp is how long a temp file must sit untouched before New takes it
// for the leftover of a crash (a live write touches its file constantly).
const staleTemp = time.Hour

// Store is a store.Store on a local folder. It is safe for concurrent use,
// also by several Store values and processes on the same folder.
type Store struct {
	dir   string
	root  *os.Root
	names sync.Map // hash -> real name of a long component
}

var _ store.Store = (*Store)(nil)

// New opens the store in dir, creating the folder and its layout if needed.
func New(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, wrapErr("open", dir, fmt.Errorf("resolving the store folder: %w", err))
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, wrapErr("open", abs, fmt.Errorf("creating the store folder: %w", err))
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, wrapErr("open", abs, fmt.Errorf("opening the store folder: %w", err))
	}
	s := &Store{dir: abs, root: root}
	if err := s.initLayout(); err != nil {
		root.Close()
		return nil, wrapErr("open", abs, err)
	}
	s.removeStaleTemps()
	return s, nil
}

// initLayout checks the format marker and creates the top-level folders.
func (s *Store) initLayout() error {
	b, err := s.root.ReadFile("FORMAT")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := s.root.Mkdir(tmpDir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("creating %s: %w", tmpDir, err)
		}
		// Several processes may initialise at once: the rename is atomic
		// and they all write the same content.
		if err := s.writeFileAtomic("FORMAT", []byte(formatLine)); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("reading the format marker: %w", err)
	case string(b) != formatLine:
		return fmt.Errorf("%s/FORMAT says %q, this version reads only %q: not a folder of this store",
			s.dir, strings.TrimSpace(string(b)), strings.TrimSpace(formatLine))
	}
	for _, d := range []string{objectsDir, namesDir, tmpDir, uploadsDir, locksDir} {
		if err := s.root.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("creating %s: %w", d, err)
		}
	}
	return nil
}

// removeStaleTemps deletes temp files that crashed writers left behind.
func (s *Store) removeStaleTemps() {
	d, err := s.root.Open(tmpDir)
	if err != nil {
		return
	}
	defer d.Close()
	ents, _ := d.ReadDir(-1)
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || time.Since(fi.ModTime()) < staleTemp {
			continue
		}
		if err := s.root.RemoveAll(tmpDir + "/" + e.Name()); err == nil {
			logrus.WithFields(logrus.Fields{"store": s.String(), "file": e.Name()}).
				Info("removed a temp file left behind by an interrupted write")
		}
	}
}

// Close releases the folder. The Store must not be used afterwards.
func (s *Store) Close() error { return s.root.Close() }

// Dir is the store's folder.
func (s *Store) Dir() string { return s.dir }

// String names the store, e.g. "local:/var/lib/s3vol/data".
func (s *Store) String() string { return "local:" + s.dir }

// Stat returns an object's size, ETag, modification time and metadata.
func (s *Store) Stat(ctx context.Context, key string) (store.Object, error) {
	if err := store.CheckKey("stat", key); err != nil {
		return store.Object{}, err
	}
	f, h, size, err := s.openObject(key)
	if err != nil {
		return store.Object{}, wrapErr("stat", key, err)
	}
	f.Close()
	return h.object(size, true), nil
}

// openObject opens an object file and reads its header.
func (s *Store) openObject(key string) (*os.File, header, int64, error) {
	f, err := s.root.Open(pathOf(key).file)
	if err != nil {
		return nil, header{}, 0, err
	}
	h, size, err := readHeader(f)
	if err != nil {
		f.Close()
		return nil, header{}, 0, fmt.Errorf("reading the object file: %w", err)
	}
	return f, h, size, nil
}

// Get streams a byte range of an object.
func (s *Store) Get(ctx context.Context, key string, opts store.GetOptions) (io.ReadCloser, store.Object, error) {
	if err := store.CheckKey("get", key); err != nil {
		return nil, store.Object{}, err
	}
	if opts.Offset < 0 {
		return nil, store.Object{}, store.NewError("get", key, store.ErrInvalidArgument,
			fmt.Errorf("negative offset %d: offsets start at 0", opts.Offset))
	}
	f, h, size, err := s.openObject(key)
	if err != nil {
		return nil, store.Object{}, wrapErr("get", key, err)
	}
	if m := unquote(opts.IfMatch); m != "" && m != h.ETag {
		f.Close()
		return nil, store.Object{}, store.NewError("get", key, store.ErrPreconditionFailed,
			fmt.Errorf("object changed: ETag is %s, not %s", h.ETag, m))
	}
	if size > 0 && opts.Offset >= size {
		f.Close()
		return nil, store.Object{}, store.NewError("get", key, store.ErrInvalidRange,
			fmt.Errorf("offset %d is past the end of the %d-byte object", opts.Offset, size))
	}
	off, n := min(opts.Offset, size), size-min(opts.Offset, size)
	if opts.Length > 0 && opts.Length < n {
		n = opts.Length
	}
	r := &fileReader{ctx: ctx, f: f, r: io.NewSectionReader(f, off, n)}
	return r, h.object(size, true), nil
}

// fileReader streams a section of an object file and stops when ctx ends.
type fileReader struct {
	ctx context.Context
	f   *os.File
	r   *io.SectionReader
}

func (r *fileReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func (r *fileReader) Close() error { return r.f.Close() }

// Put stores an object from r (size bytes, or up to EOF when size is -1).
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, opts store.PutOptions) (store.Object, error) {
	if err := store.CheckKey("put", key); err != nil {
		return store.Object{}, err
	}
	// Fail a hopeless conditional write before reading its data; the
	// check that counts is the one under the lock in commit.
	if err := s.checkCondition(key, pathOf(key), opts); err != nil {
		return store.Object{}, wrapErr("put", key, err)
	}
	t, err := s.newTemp()
	if err != nil {
		return store.Object{}, wrapErr("put", key, err)
	}
	defer t.discard()
	if err := copyIn(ctx, t, r, size); err != nil {
		return store.Object{}, wrapErr("put", key, err)
	}
	h := newHeader(key, t.contentMD5(), opts.Metadata, opts.ContentType)
	if err := t.finish(h); err != nil {
		return store.Object{}, wrapErr("put", key, err)
	}
	if err := s.commit(ctx, key, t, opts); err != nil {
		return store.Object{}, wrapErr("put", key, err)
	}
	return h.object(t.size, true), nil
}

// copyIn streams r into t: exactly size bytes, or everything when size < 0.
func copyIn(ctx context.Context, t *tempFile, r io.Reader, size int64) error {
	src := &ctxReader{ctx: ctx, r: r}
	if size < 0 {
		if _, err := io.Copy(t, src); err != nil {
			return fmt.Errorf("writing the object: %w", err)
		}
		return nil
	}
	n, err := io.Copy(t, io.LimitReader(src, size))
	if err != nil {
		return fmt.Errorf("writing the object: %w", err)
	}
	if n != size {
		return store.NewError("put", "", store.ErrInvalidArgument,
			fmt.Errorf("the data ended after %d of the announced %d bytes", n, size))
	}
	return nil
}

// ctxReader stops reading when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// newHeader builds the header of a new object, lower-casing metadata keys.
func newHeader(key, etag string, meta map[string]string, contentType string) *header {
	h := &header{Key: key, ETag: etag, Modified: time.Now().UTC(), ContentType: contentType}
	if len(meta) > 0 {
		h.Metadata = make(map[string]string, len(meta))
		for k, v := range meta {
			h.Metadata[strings.ToLower(k)] = v
		}
	}
	return h
}

// commit moves a finished temp file into place as key's object, under the
// key's lock, after checking the write's conditions against the current
// object.
func (s *Store) commit(ctx context.Context, key string, t *tempFile, opts store.PutOptions) error {
	kp := pathOf(key)
	if err := s.recordLongNames(kp); err != nil {
		return err
	}
	unlock, err := s.lockKey(ctx, key)
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.checkCondition(key, kp, opts); err != nil {
		return err
	}
	// A Delete may prune a directory on our path between our mkdir and our
	// rename (ENOENT); then we make it again. Each retry needs a concurrent prune
	// of a directory our file is not in yet, so this ends quickly.
	for attempt := 0; ; attempt++ {
		err := s.mkdirs(kp.dir)
		if err != nil {
			err = fmt.Errorf("creating the object's folder: %w", err)
		} else if err = s.root.Rename(t.path, kp.file); err != nil {
			err = fmt.Errorf("moving the object into place: %w", err)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt >= 100 {
			return err
		}
	}
	t.done = true
	return s.syncDir(kp.dir)
}

// mkdirs creates dir and its missing parents, syncing the parent of each
// directory it creates so that a committed object's path survives a crash.
func (s *Store) mkdirs(dir string) error {
	if fi, err := s.root.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	for i := len(objectsDir); i <= len(dir); i++ {
		if i < len(dir) && dir[i] != '/' {
			continue
		}
		err := s.root.Mkdir(dir[:i], 0o700)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		if err := s.syncDir(dir[:strings.LastIndexByte(dir[:i], '/')]); err != nil {
			return err
		}
	}
	return nil
}

// checkCondition enforces IfNoneMatch and IfMatch; the caller holds the
// key's lock.
func (s *Store) checkCondition(key string, kp keyPath, opts store.PutOptions) error {
	match := unquote(opts.IfMatch)
	if !opts.IfNoneMatch && match == "" {
		return nil
	}
	f, err := s.root.Open(kp.file)
	if errors.Is(err, fs.ErrNotExist) {
		if match != "" {
			return store.NewError("put", key, store.ErrPreconditionFailed,
				fmt.Errorf("If-Match %s: the object does not exist", match))
		}
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if opts.IfNoneMatch {
		return store.NewError("put", key, store.ErrPreconditionFailed,
			errors.New("If-None-Match: the object already exists"))
	}
	h, _, err := readHeader(f)
	if err != nil {
		return fmt.Errorf("reading the current object: %w", err)
	}
	if h.ETag != match {
		return store.NewError("put", key, store.ErrPreconditionFailed,
			fmt.Errorf("If-Match %s: the object's ETag is %s", match, h.ETag))
	}
	return nil
}

// syncDir makes a rename in dir durable.
func (s *Store) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return fmt.Errorf("opening %s to sync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// Copy copies src to dst: the kernel copies the bytes, the metadata is
// kept or replaced, and the ETag is src's (the content is the same).
func (s *Store) Copy(ctx context.Context, src, dst string, opts store.CopyOptions) (store.Object, error) {
	for _, k := range []string{src, dst} {
		if err := store.CheckKey("copy", k); err != nil {
			return store.Object{}, err
		}
	}
	f, h, size, err := s.openObject(src)
	if err != nil {
		return store.Object{}, wrapErr("copy", src, err)
	}
	defer f.Close()
	if m := unquote(opts.IfMatch); m != "" && m != h.ETag {
		return store.Object{}, store.NewError("copy", src, store.ErrPreconditionFailed,
			fmt.Errorf("source changed: ETag is %s, not %s", h.ETag, m))
	}
	t, err := s.newTemp()
	if err != nil {
		return store.Object{}, wrapErr("copy", dst, err)
	}
	defer t.discard()
	if err := copyFileData(ctx, t.f, f, size); err != nil {
		return store.Object{}, wrapErr("copy", dst, fmt.Errorf("copying from %q: %w", src, err))
	}
	meta, ctype := h.Metadata, h.ContentType
	if opts.ReplaceMetadata {
		meta = opts.Metadata
	}
	nh := newHeader(dst, h.ETag, meta, ctype)
	if err := t.finish(nh); err != nil {
		return store.Object{}, wrapErr("copy", dst, err)
	}
	if err := s.commit(ctx, dst, t, store.PutOptions{}); err != nil {
		return store.Object{}, wrapErr("copy", dst, err)
	}
	return nh.object(size, true), nil
}

// Delete removes one object; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := store.CheckKey("delete", key); err != nil {
		return err
	}
	return wrapErr("delete", key, s.delete(ctx, key))
}

func (s *Store) delete(ctx context.Context, key string) error {
	kp := pathOf(key)
	unlock, err := s.lockKey(ctx, key)
	if err != nil {
		return err
	}
	err = s.root.Remove(kp.file)
	unlock()
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	s.pruneDirs(kp.dir)
	return nil
}

// pruneDirs removes dir and its parents while they are empty. It is best
// effort: rmdir fails harmlessly on a directory that is not empty.
func (s *Store) pruneDirs(dir string) {
	for dir != objectsDir && strings.HasPrefix(dir, objectsDir+"/") {
		if err := s.root.Remove(dir); err != nil {
			return
		}
		dir = dir[:strings.LastIndexByte(dir, '/')]
	}
}

// DeleteMany removes many objects; it returns the first failure but tries
// every key.
func (s *Store) DeleteMany(ctx context.Context, keys []string) error {
	var first error
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return store.NewError("delete", k, nil, err)
		}
		if err := s.Delete(ctx, k); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// unquote strips the quotes an ETag may carry.
func unquote(etag string) string { return strings.Trim(etag, `"`) }

// randomID returns 16 random bytes in hex.
func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
