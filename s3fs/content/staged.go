package content

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/s3vol/s3vol/s3fs/content/internal/extent"
	"github.com/s3vol/s3vol/store"
)

// FetchAlign is the granularity of the ranges a staging file fetches
// around a read: small random reads (a database's pages) cost one request
// per 256 KiB block at most, not one per page.
const FetchAlign = 256 << 10

// Base is the stored object a staging file modifies: its bytes
// [0, Limit) are the file's unless overwritten locally. Its ETag pins
// every fetch and copy to the version the file started from.
type Base struct {
	Key   string
	ETag  string
	Limit int64
}

// Staged is the local content of a file modified in place: a sparse,
// already-unlinked temporary file holding the bytes written here and the
// ranges of the base object fetched so far. Bytes past the base's limit
// that were never written read as zeros (holes). Not safe for concurrent
// use: the file node serializes access.
type Staged struct {
	env     *Env
	file    *os.File // created on the first write or fetch
	size    int64
	base    Base
	present extent.Set // bytes of [0, base.Limit) held locally
	changed extent.Set // bytes written here since the base was stored
}

// NewStaged starts the content of a file modified in place from the
// stored object b (Base{} for none). Nothing is fetched up front.
func NewStaged(env *Env, b Base) *Staged {
	return &Staged{env: env, base: b, size: b.Limit}
}

// BaseCopied records that the base object now lives at key as version etag
// (a rename's copy, a metadata rewrite's copy onto itself): the bytes
// still missing are fetched from there, and a patch copies from there.
func (s *Staged) BaseCopied(key, etag string) { s.base.Key, s.base.ETag = key, etag }

func (s *Staged) Length() int64 { return s.size }

// open creates the staging file on first use.
func (s *Staged) open() error {
	if s.file != nil {
		return nil
	}
	file, err := s.env.localFile("staging")
	if err != nil {
		return err
	}
	if err := file.Truncate(s.size); err != nil {
		file.Close()
		return fmt.Errorf("sizing the staging file: %w", err)
	}
	s.file = file
	return nil
}

func (s *Staged) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, nil
	}
	end := min(off+int64(len(p)), s.size)
	p = p[:end-off]
	if err := s.fill(ctx, off, end); err != nil {
		return 0, err
	}
	if s.file == nil {
		clear(p) // nothing written or fetched: all zeros
		return len(p), nil
	}
	n, err := s.file.ReadAt(p, off)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}

// fill fetches the missing base bytes of [start, end), widened to
// FetchAlign blocks.
func (s *Staged) fill(ctx context.Context, start, end int64) error {
	start = max(start/FetchAlign*FetchAlign, 0)
	end = min((end+FetchAlign-1)/FetchAlign*FetchAlign, s.base.Limit)
	for _, g := range s.present.Gaps(start, end) {
		if err := s.fetch(ctx, g); err != nil {
			return err
		}
	}
	return nil
}

// fetch copies bytes g of the base object into the staging file.
func (s *Staged) fetch(ctx context.Context, g extent.Range) error {
	if err := s.open(); err != nil {
		return err
	}
	ctx, cancel := s.env.transferCtx(ctx)
	defer cancel()
	body, _, err := s.env.Store.Get(ctx, s.base.Key, store.GetOptions{Offset: g.Start, Length: g.Len(), IfMatch: s.base.ETag})
	if err != nil {
		return fmt.Errorf("fetching bytes %d-%d of the file being modified: %w", g.Start, g.End-1, err)
	}
	defer body.Close()
	n, err := io.Copy(io.NewOffsetWriter(s.file, g.Start), io.LimitReader(body, g.Len()))
	if err == nil && n != g.Len() {
		err = fmt.Errorf("object %q ended after %d of %d bytes: %w", s.base.Key, n, g.Len(), io.ErrUnexpectedEOF)
	}
	if err != nil {
		return fmt.Errorf("fetching bytes %d-%d of the file being modified: %w", g.Start, g.End-1, err)
	}
	s.present.Add(g.Start, g.End)
	return nil
}

func (s *Staged) WriteAt(ctx context.Context, p []byte, off int64) error {
	if err := s.open(); err != nil {
		return err
	}
	if _, err := s.file.WriteAt(p, off); err != nil {
		return fmt.Errorf("writing the staging file: %w", err)
	}
	s.present.Add(off, off+int64(len(p)))
	s.changed.Add(off, off+int64(len(p)))
	s.size = max(s.size, off+int64(len(p)))
	return nil
}

// Truncate sets the size; bytes cut off are forgotten, so growing again
// reads zeros, not the base object's old bytes.
func (s *Staged) Truncate(size int64) error {
	if s.file != nil {
		if err := s.file.Truncate(size); err != nil {
			return fmt.Errorf("truncating the staging file: %w", err)
		}
	}
	if size < s.size {
		s.present.Truncate(size)
		s.changed.Truncate(size)
		s.base.Limit = min(s.base.Limit, size)
	}
	s.size = size
	return nil
}

// Commit stores the content as key: as a patch of the base when much of
// it is unchanged (see patch.go), else whole. On success the new object
// becomes the base.
func (s *Staged) Commit(ctx context.Context, key string, opts store.PutOptions) (store.Object, error) {
	if p := s.planPatch(); p != nil {
		obj, err := s.commitPatch(ctx, key, opts, p)
		if !errors.Is(err, errBaseGone) && !errors.Is(err, store.ErrNotSupported) {
			return obj, err
		}
		// The base changed or went away, or the store cannot copy parts:
		// store what is here whole, which works when everything is local
		// or can still be fetched, and fails as it should otherwise.
	}
	return s.commitWhole(ctx, key, opts)
}

// commitWhole fetches what is still missing of the base, then uploads the
// whole content as key. On success the staging file holds exactly the
// new object.
func (s *Staged) commitWhole(ctx context.Context, key string, opts store.PutOptions) (store.Object, error) {
	if err := s.fill(ctx, 0, s.base.Limit); err != nil {
		return store.Object{}, err
	}
	ctx, cancel := s.env.transferCtx(ctx)
	defer cancel()
	var r io.Reader = io.NewSectionReader(s.file, 0, s.size)
	if s.file == nil {
		r = io.LimitReader(zeros{}, s.size)
	}
	obj, err := s.env.upload(ctx, key, r, s.size, opts)
	if err != nil {
		return store.Object{}, err
	}
	s.base = Base{Key: key, ETag: obj.ETag, Limit: s.size}
	s.present = extent.Set{}
	s.present.Add(0, s.size)
	s.changed = extent.Set{}
	return obj, nil
}

func (s *Staged) Close() {
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
