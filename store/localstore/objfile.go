package localstore

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"

	"github.com/s3vol/s3vol/store"
)

// trailerMagic ends every object and part file.
const trailerMagic = "s3volO1\n"

// fixedTrailer is the length field plus the magic.
const fixedTrailer = 4 + len(trailerMagic)

// header is the JSON trailer of an object file: everything Stat returns
// besides the size, kept in the same file as the data so both change in one
// rename.
type header struct {
	Key         string            `json:"key"`
	ETag        string            `json:"etag"`
	Modified    time.Time         `json:"modified"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	ContentType string            `json:"contentType,omitempty"`
}

// object builds the store.Object an object file describes.
func (h *header) object(size int64, withMeta bool) store.Object {
	o := store.Object{Key: h.Key, Size: size, ETag: h.ETag, LastModified: h.Modified}
	if withMeta {
		o.Metadata = h.Metadata
		if o.Metadata == nil {
			o.Metadata = map[string]string{}
		}
	}
	return o
}

var errCorrupt = errors.New("corrupt object file (no s3vol trailer)")

// readHeader reads the trailer of an open object file and returns it with
// the size of the data in front of it.
func readHeader(f *os.File) (header, int64, error) {
	var h header
	fi, err := f.Stat()
	if err != nil {
		return h, 0, err
	}
	total := fi.Size()
	// One read usually gets the whole trailer.
	tail := int64(4096)
	if tail > total {
		tail = total
	}
	if tail < int64(fixedTrailer) {
		return h, 0, errCorrupt
	}
	buf := make([]byte, tail)
	if _, err := f.ReadAt(buf, total-tail); err != nil {
		return h, 0, err
	}
	if string(buf[len(buf)-len(trailerMagic):]) != trailerMagic {
		return h, 0, errCorrupt
	}
	n := int64(binary.BigEndian.Uint32(buf[len(buf)-fixedTrailer:]))
	dataSize := total - int64(fixedTrailer) - n
	if dataSize < 0 {
		return h, 0, errCorrupt
	}
	var js []byte
	if n <= tail-int64(fixedTrailer) {
		js = buf[tail-int64(fixedTrailer)-n : tail-int64(fixedTrailer)]
	} else {
		js = make([]byte, n)
		if _, err := f.ReadAt(js, dataSize); err != nil {
			return h, 0, err
		}
	}
	if err := json.Unmarshal(js, &h); err != nil {
		return h, 0, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	return h, dataSize, nil
}

// tempFile is an object file being written under tmp/. Nothing sees it
// until commit renames it into the tree.
type tempFile struct {
	s    *Store
	f    *os.File
	path string // relative to the root
	md5  hash.Hash
	size int64
	done bool // renamed away or removed
}

// newTemp creates an empty temp file.
func (s *Store) newTemp() (*tempFile, error) {
	for {
		p := tmpDir + "/" + randomID()
		f, err := s.root.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("creating a temp file: %w", err)
		}
		return &tempFile{s: s, f: f, path: p, md5: md5.New()}, nil
	}
}

// Write appends data, hashing it for the ETag.
func (t *tempFile) Write(p []byte) (int, error) {
	n, err := t.f.Write(p)
	t.md5.Write(p[:n])
	t.size += int64(n)
	return n, err
}

// contentMD5 is the hex MD5 of everything written so far.
func (t *tempFile) contentMD5() string { return hex.EncodeToString(t.md5.Sum(nil)) }

// finish appends the trailer, syncs and closes the file.
func (t *tempFile) finish(h *header) error {
	js, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("encoding the object header: %w", err)
	}
	tr := make([]byte, 0, len(js)+fixedTrailer)
	tr = append(tr, js...)
	tr = binary.BigEndian.AppendUint32(tr, uint32(len(js)))
	tr = append(tr, trailerMagic...)
	if _, err := t.f.Write(tr); err != nil {
		return fmt.Errorf("writing the object header: %w", err)
	}
	if err := t.f.Sync(); err != nil {
		return fmt.Errorf("syncing a temp file: %w", err)
	}
	if err := t.f.Close(); err != nil {
		return fmt.Errorf("closing a temp file: %w", err)
	}
	return nil
}

// discard removes the temp file unless it was committed.
func (t *tempFile) discard() {
	if t.done {
		return
	}
	t.f.Close()
	t.s.root.Remove(t.path)
	t.done = true
}

// writeFileAtomic writes a small file under the root through a temp file.
func (s *Store) writeFileAtomic(path string, data []byte) error {
	t, err := s.newTemp()
	if err != nil {
		return err
	}
	defer t.discard()
	if _, err := t.f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := t.f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := t.f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", path, err)
	}
	if err := s.root.Rename(t.path, path); err != nil {
		return fmt.Errorf("renaming %s into place: %w", path, err)
	}
	t.done = true
	return nil
}

// copyData copies n bytes from src (at its current offset) to the temp
// file, in chunks so that ctx is checked; between two files the kernel does
// the copy (copy_file_range), but the MD5 is then not updated.
func copyFileData(ctx interface{ Err() error }, dst *os.File, src *os.File, n int64) error {
	const chunk = 16 << 20
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := min(n, chunk)
		w, err := io.Copy(dst, io.LimitReader(src, c))
		if err != nil {
			return err
		}
		if w != c {
			return io.ErrUnexpectedEOF
		}
		n -= c
	}
	return nil
}
