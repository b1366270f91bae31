package localstore

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/s3vol/s3vol/store"
)

// uploadInfo is uploads/<id>/info: what Complete needs besides the parts.
type uploadInfo struct {
	Key     string           `json:"key"`
	Opts    store.PutOptions `json:"opts"`
	Started time.Time        `json:"started"`
}

// infoFile names the info file inside an upload's folder; parts are named
// by their 5-digit number, so the two never clash.
const infoFile = "info"

// NewMultipart starts an upload staged in uploads/<id>/.
func (s *Store) NewMultipart(ctx context.Context, key string, opts store.PutOptions) (store.Multipart, error) {
	if err := store.CheckKey("multipart", key); err != nil {
		return nil, err
	}
	id := randomID()
	info, err := json.Marshal(uploadInfo{Key: key, Opts: opts, Started: time.Now().UTC()})
	if err != nil {
		return nil, wrapErr("multipart", key, fmt.Errorf("encoding the upload's info: %w", err))
	}
	// Build the folder under tmp/ and rename it in, so uploads/ never
	// shows an upload without its info.
	staging := tmpDir + "/upload-" + id
	if err := s.root.Mkdir(staging, 0o700); err != nil {
		return nil, wrapErr("multipart", key, fmt.Errorf("creating the upload's folder: %w", err))
	}
	if err := s.writeFileAtomic(staging+"/"+infoFile, info); err != nil {
		s.root.RemoveAll(staging)
		return nil, wrapErr("multipart", key, err)
	}
	if err := s.root.Rename(staging, uploadsDir+"/"+id); err != nil {
		s.root.RemoveAll(staging)
		return nil, wrapErr("multipart", key, fmt.Errorf("registering the upload: %w", err))
	}
	return &multipart{s: s, key: key, id: id, dir: uploadsDir + "/" + id, opts: opts}, nil
}

// multipart is an upload in progress.
type multipart struct {
	s    *Store
	key  string
	id   string
	dir  string
	opts store.PutOptions
}

func partName(n int) string { return fmt.Sprintf("%05d", n) }

// UploadPart stores part n as a file in the upload's folder, written under
// tmp/ and renamed in, so a part is either whole or absent.
func (m *multipart) UploadPart(ctx context.Context, n int, r io.Reader, size int64) error {
	if err := store.CheckPart(m.key, n, size); err != nil {
		return err
	}
	t, err := m.s.newTemp()
	if err != nil {
		return wrapErr("multipart", m.key, err)
	}
	defer t.discard()
	if err := copyIn(ctx, t, r, size); err != nil {
		return wrapErr("multipart", m.key, fmt.Errorf("part %d: %w", n, err))
	}
	if err := t.finish(&header{Key: m.key, ETag: t.contentMD5(), Modified: time.Now().UTC()}); err != nil {
		return wrapErr("multipart", m.key, err)
	}
	if err := m.s.root.Rename(t.path, m.dir+"/"+partName(n)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return m.noSuchUpload()
		}
		return wrapErr("multipart", m.key, fmt.Errorf("storing part %d: %w", n, err))
	}
	t.done = true
	return nil
}

// CopyPart stores part n from a range of src read through Get, which pins
// srcETag.
func (m *multipart) CopyPart(ctx context.Context, n int, src, srcETag string, offset, length int64) error {
	if err := store.CheckCopyPart(m.key, n, src, offset, length); err != nil {
		return err
	}
	body, obj, err := m.s.Get(ctx, src, store.GetOptions{Offset: offset, Length: length, IfMatch: srcETag})
	if err != nil {
		return err
	}
	defer body.Close()
	if offset+length > obj.Size {
		return store.NewError("multipart", m.key, store.ErrInvalidRange,
			fmt.Errorf("part %d: bytes %d-%d are past the end of %q (%d bytes)", n, offset, offset+length-1, src, obj.Size))
	}
	return m.UploadPart(ctx, n, body, length)
}

func (m *multipart) noSuchUpload() error {
	return store.NewError("multipart", m.key, store.ErrNotFound,
		fmt.Errorf("upload %s does not exist (completed or aborted)", m.id))
}

// Complete concatenates the parts into a temp file (the kernel copies the
// bytes) and commits it like a Put, with the upload's conditions.
func (m *multipart) Complete(ctx context.Context) (store.Object, error) {
	parts, err := m.partFiles()
	if err != nil {
		return store.Object{}, err
	}
	t, err := m.s.newTemp()
	if err != nil {
		return store.Object{}, wrapErr("multipart", m.key, err)
	}
	defer t.discard()
	sums, size, err := m.concat(ctx, t, parts)
	if err != nil {
		return store.Object{}, err
	}
	h := newHeader(m.key, multipartETag(sums), m.opts.Metadata, m.opts.ContentType)
	if err := t.finish(h); err != nil {
		return store.Object{}, wrapErr("multipart", m.key, err)
	}
	if err := m.s.commit(ctx, m.key, t, m.opts); err != nil {
		return store.Object{}, wrapErr("multipart", m.key, err)
	}
	m.s.root.RemoveAll(m.dir)
	return h.object(size, true), nil
}

// partFiles lists the uploaded parts, checking they are 1..N.
func (m *multipart) partFiles() ([]string, error) {
	d, err := m.s.root.Open(m.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, m.noSuchUpload()
	}
	if err != nil {
		return nil, wrapErr("multipart", m.key, err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, wrapErr("multipart", m.key, fmt.Errorf("listing the parts: %w", err))
	}
	var parts []string
	for _, n := range names {
		if n != infoFile {
			parts = append(parts, n)
		}
	}
	sort.Strings(parts)
	if len(parts) == 0 {
		return nil, store.NewError("multipart", m.key, store.ErrInvalidArgument,
			errors.New("no parts were uploaded: an upload needs at least part 1"))
	}
	for i, p := range parts {
		if n, err := strconv.Atoi(p); err != nil || n != i+1 {
			return nil, store.NewError("multipart", m.key, store.ErrInvalidArgument,
				fmt.Errorf("part %d is missing: parts must be 1 to N without gaps", i+1))
		}
	}
	return parts, nil
}

// concat appends the parts' data to t and returns their MD5s and the total.
func (m *multipart) concat(ctx context.Context, t *tempFile, parts []string) ([][]byte, int64, error) {
	var sums [][]byte
	var total int64
	for i, p := range parts {
		f, err := m.s.root.Open(m.dir + "/" + p)
		if err != nil {
			return nil, 0, wrapErr("multipart", m.key, fmt.Errorf("opening part %d: %w", i+1, err))
		}
		h, size, err := readHeader(f)
		if err == nil && size < store.MinPartSize && i < len(parts)-1 {
			err = store.NewError("multipart", m.key, store.ErrInvalidArgument,
				fmt.Errorf("part %d has %d bytes: every part but the last needs at least %d", i+1, size, store.MinPartSize))
		}
		if err == nil {
			err = copyFileData(ctx, t.f, f, size)
		}
		f.Close()
		if err != nil {
			return nil, 0, wrapErr("multipart", m.key, fmt.Errorf("part %d: %w", i+1, err))
		}
		sum, err := hex.DecodeString(h.ETag)
		if err != nil {
			return nil, 0, wrapErr("multipart", m.key, fmt.Errorf("part %d has a bad checksum %q", i+1, h.ETag))
		}
		sums = append(sums, sum)
		total += size
	}
	t.size = total
	return sums, total, nil
}

// multipartETag is S3's ETag of a multipart object: the MD5 of the parts'
// MD5s, then "-" and the number of parts.
func multipartETag(sums [][]byte) string {
	h := md5.New()
	for _, s := range sums {
		h.Write(s)
	}
	return hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(sums))
}

// Abort discards the upload; aborting twice is harmless.
func (m *multipart) Abort(ctx context.Context) error {
	return wrapErr("multipart", m.key, m.s.removeUpload(m.id))
}

// removeUpload deletes an upload's folder. A part being renamed in at the
// same moment can make the removal fail once, so it is retried.
func (s *Store) removeUpload(id string) error {
	var err error
	for range 5 {
		if err = s.root.RemoveAll(uploadsDir + "/" + id); err == nil {
			return nil
		}
	}
	return fmt.Errorf("removing upload %s: %w", id, err)
}

// AbortStaleUploads aborts the uploads under prefix started more than
// olderThan ago.
func (s *Store) AbortStaleUploads(ctx context.Context, prefix string, olderThan time.Duration) (int, error) {
	d, err := s.root.Open(uploadsDir)
	if err != nil {
		return 0, wrapErr("abort-uploads", prefix, err)
	}
	ids, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return 0, wrapErr("abort-uploads", prefix, fmt.Errorf("listing the uploads: %w", err))
	}
	n := 0
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return n, store.NewError("abort-uploads", prefix, nil, err)
		}
		b, err := s.root.ReadFile(uploadsDir + "/" + id + "/" + infoFile)
		if errors.Is(err, fs.ErrNotExist) {
			continue // completed or aborted meanwhile
		}
		var info uploadInfo
		if err == nil {
			err = json.Unmarshal(b, &info)
		}
		if err != nil {
			return n, wrapErr("abort-uploads", prefix, fmt.Errorf("reading upload %s: %w", id, err))
		}
		if !strings.HasPrefix(info.Key, prefix) || time.Since(info.Started) <= olderThan {
			continue
		}
		if err := s.removeUpload(id); err != nil {
			return n, wrapErr("abort-uploads", prefix, err)
		}
		n++
	}
	return n, nil
}

// UploadID is the upload's folder name (store.IdentifiedUpload).
func (m *multipart) UploadID() string { return m.id }

// AbortUpload aborts one upload by its key and id (store.UploadAborter).
// An upload that is gone, or that is of another key, yields ErrNotFound.
func (s *Store) AbortUpload(ctx context.Context, key, uploadID string) error {
	if err := store.CheckUploadID(key, uploadID); err != nil {
		return err
	}
	if _, err := hex.DecodeString(uploadID); err != nil || len(uploadID) != 32 {
		return store.NewError("abort-upload", key, store.ErrNotFound, fmt.Errorf("%q is not an upload id of this store", uploadID))
	}
	b, err := s.root.ReadFile(uploadsDir + "/" + uploadID + "/" + infoFile)
	var info uploadInfo
	if err == nil {
		err = json.Unmarshal(b, &info)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return store.NewError("abort-upload", key, store.ErrNotFound, fmt.Errorf("upload %s does not exist (completed or aborted)", uploadID))
	case err != nil:
		return wrapErr("abort-upload", key, fmt.Errorf("reading upload %s: %w", uploadID, err))
	case info.Key != key:
		return store.NewError("abort-upload", key, store.ErrNotFound, fmt.Errorf("upload %s is of another key", uploadID))
	}
	return wrapErr("abort-upload", key, s.removeUpload(uploadID))
}
