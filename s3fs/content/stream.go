package content

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/s3vol/s3vol/store"
)

// ErrNeedStaging says an operation needs random access to content that is
// being streamed: the caller then moves it to a staging file
// (Streamer.ToStaged) and retries.
var ErrNeedStaging = errors.New("random access to a streamed file")

// firstBuffer is the first size of a stream's buffer; it doubles up to
// one part as the file grows, so that many small files open at once do not
// each hold a whole part of the memory budget.
const firstBuffer = 64 << 10

// wholePartAfter is the buffer size past which a stream takes a whole part.
const wholePartAfter = 1 << 20

// Streamer is the local content of a file written from its start onwards,
// the common case of a new file (cp, tar, a download, a log). Its first
// part stays in memory, so a small file is stored with one PUT at close and
// can still be read back or rewritten; once the file outgrows one part a
// multipart upload starts and every further part is uploaded in the
// background while the writer keeps writing, in bounded memory (the
// store.Writer's parts come from the memory budget). The first part is
// also kept in a local file (the head), so that it can still be read back
// and overwritten: many formats rewrite a header at offset 0 once the rest
// is written (WAV, MP4, HDF5), and the head's part is then sent again at
// close. Any other random access needs the staging file (ErrNeedStaging).
type Streamer struct {
	env *Env
	// start names the object and its metadata when the upload starts:
	// only then, as a rename or a chmod may come before.
	start func() (key string, opts store.PutOptions)

	buf  []byte // the first bytes, from the memory budget; nil once uploading
	size int64

	w      *store.Writer    // the multipart upload, once started
	key    string           // the key being uploaded
	sent   store.PutOptions // what the upload started with
	cancel context.CancelFunc
	err    error // the upload's failure: the content is lost

	head      *os.File // the first part's bytes once uploading; nil if it could not be kept
	headDirty bool     // head was overwritten since its part was sent
}

// NewStreamer starts empty content. start is called once, when the content
// outgrows one part, for the key and options of the multipart upload.
func NewStreamer(env *Env, start func() (key string, opts store.PutOptions)) *Streamer {
	return &Streamer{env: env, start: start}
}

func (s *Streamer) Length() int64 { return s.size }

// Uploading reports whether the multipart upload has started: the content
// past the first part can no longer be read back.
func (s *Streamer) Uploading() bool { return s.w != nil }

// Sent is what the multipart upload started with (when Uploading): the
// object gets that metadata, whatever Commit is given.
func (s *Streamer) Sent() store.PutOptions { return s.sent }

// Failed reports whether the streaming upload failed: the content is lost,
// and every later write, commit and read fails.
func (s *Streamer) Failed() bool { return s.err != nil }

func (s *Streamer) WriteAt(ctx context.Context, p []byte, off int64) error {
	if s.err != nil {
		return s.err
	}
	if off != s.size {
		return s.overwriteHead(p, off)
	}
	end := s.size + int64(len(p))
	if s.w == nil && end <= s.env.PartSize {
		if !s.grow(end) {
			return ErrNeedStaging // the memory budget is spent: spill to disk
		}
		s.buf = s.buf[:end]
		copy(s.buf[s.size:], p)
		s.size = end
		return nil
	}
	if s.w == nil {
		if err := s.startUpload(); err != nil {
			return err
		}
	}
	if _, err := s.w.Write(p); err != nil {
		return s.failed(err)
	}
	s.keepHead(p, s.size)
	s.size = end
	return nil
}

// grow makes buf hold size bytes, taking a larger buffer from the budget
// when needed (without waiting). It doubles from firstBuffer up to
// wholePartAfter, then takes a whole part at once: a file that big is
// likely to fill it, and every step up copies the bytes and leaves the
// smaller buffer behind.
func (s *Streamer) grow(size int64) bool {
	if size <= int64(cap(s.buf)) {
		return true
	}
	n := max(int64(firstBuffer), 2*int64(cap(s.buf)))
	for n < size {
		n *= 2
	}
	if n > wholePartAfter { // PartSize is at least store.MinPartSize, past it
		n = s.env.PartSize
	}
	nb, ok := s.env.Buffers.TryGet(int(n))
	if !ok {
		return false
	}
	nb = nb[:len(s.buf)]
	copy(nb, s.buf)
	s.releaseBuf()
	s.buf = nb
	return true
}

func (s *Streamer) releaseBuf() {
	if s.buf != nil {
		s.env.Buffers.Put(s.buf[:cap(s.buf)])
		s.buf = nil
	}
}

// startUpload starts the multipart upload with the bytes buffered so far.
func (s *Streamer) startUpload() error {
	s.key, s.sent = s.start()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.w = s.env.newWriter(ctx, s.key, s.sent, 0)
	s.openHead()
	if s.buf != nil {
		// The buffered bytes become the first part as they are.
		s.keepHead(s.buf, 0)
		buf := s.buf
		s.buf = nil
		if _, err := s.w.Adopt(buf); err != nil {
			return s.failed(err)
		}
	}
	return nil
}

// msgHeadNotKept is logged when the head cannot be kept.
const msgHeadNotKept = "keeping the first part of a file being written failed; rewriting its start will commit what was written so far"

// openHead creates the head file. Without it the stream still works:
// random access then commits and stages.
func (s *Streamer) openHead() {
	file, err := s.env.localFile("head")
	if err != nil {
		s.env.Log.WithError(err).Warn(msgHeadNotKept)
		return
	}
	s.head = file
}

// keepHead copies what p, written at off, holds of the first part into
// the head.
func (s *Streamer) keepHead(p []byte, off int64) {
	part := s.env.PartSize
	if s.head == nil || off >= part {
		return
	}
	p = p[:min(int64(len(p)), part-off)]
	if _, err := s.head.WriteAt(p, off); err != nil {
		s.env.Log.WithError(err).Warn(msgHeadNotKept)
		s.dropHead()
	}
}

// headLen is how many bytes the head holds: writes are appends while
// streaming, so it is the first part, or all of a shorter file.
func (s *Streamer) headLen() int64 {
	if s.head == nil {
		return 0
	}
	return min(s.size, s.env.PartSize)
}

// overwriteHead writes p at off into the head when it lies within the
// first part, already sent; anything else needs the staging file.
func (s *Streamer) overwriteHead(p []byte, off int64) error {
	if s.w == nil || off+int64(len(p)) > s.headLen() {
		return ErrNeedStaging
	}
	s.headDirty = true // even a failed write may have changed it
	if _, err := s.head.WriteAt(p, off); err != nil {
		return fmt.Errorf("overwriting the start of a file being written: %w", err)
	}
	return nil
}

func (s *Streamer) dropHead() {
	if s.head != nil {
		s.head.Close()
		s.head = nil
	}
}

// failed records an upload failure: the parts already sent cannot be
// read back, so the content is lost and every later write, commit and
// read fails.
func (s *Streamer) failed(err error) error {
	s.err = fmt.Errorf("streaming upload of %q failed, the file's new content is lost: %w", s.key, err)
	s.w.Abort()
	s.cancel()
	return s.err
}

func (s *Streamer) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.w != nil {
		return s.readHead(p, off)
	}
	if off >= s.size {
		return 0, nil
	}
	return copy(p, s.buf[off:]), nil
}

// readHead serves a read that lies within the head. A read that goes past
// it needs the staging file: a short read would look like the file's end.
func (s *Streamer) readHead(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > s.headLen() {
		return 0, ErrNeedStaging
	}
	n, err := s.head.ReadAt(p, off)
	if err != nil {
		return n, fmt.Errorf("reading the start of a file being written: %w", err)
	}
	return n, nil
}

func (s *Streamer) Truncate(size int64) error {
	switch {
	case s.err != nil:
		return s.err
	case size == s.size:
		return nil
	case s.w != nil || size > s.env.PartSize || !s.grow(size):
		return ErrNeedStaging
	}
	old := s.size
	s.buf = s.buf[:size]
	if size > old {
		clear(s.buf[old:])
	}
	s.size = size
	return nil
}

// Commit stores the content as key: one PUT of the buffer, or the
// completion of the multipart upload. A file renamed while streaming is
// completed under its old key, then moved.
func (s *Streamer) Commit(ctx context.Context, key string, opts store.PutOptions) (store.Object, error) {
	if s.err != nil {
		return store.Object{}, s.err
	}
	if s.w == nil {
		ctx, cancel := s.env.transferCtx(ctx)
		defer cancel()
		return s.env.Store.Put(ctx, key, bytes.NewReader(s.buf), s.size, opts)
	}
	if s.headDirty {
		if err := s.w.ReplacePart(1, s.head, s.headLen()); err != nil {
			return store.Object{}, s.failed(err)
		}
	}
	if err := s.w.Close(); err != nil {
		return store.Object{}, s.failed(err)
	}
	s.dropHead()
	s.cancel()
	obj := s.w.Object()
	if key != s.key {
		moved, err := s.env.move(ctx, s.key, key, obj.ETag)
		if err != nil {
			return store.Object{}, err
		}
		obj = moved
	}
	return obj, nil
}

// ToStaged moves buffered content to a new staging file; it must not be
// uploading.
func (s *Streamer) ToStaged() (*Staged, error) {
	st := NewStaged(s.env, Base{})
	if s.size > 0 {
		if err := st.WriteAt(context.Background(), s.buf, 0); err != nil {
			st.Close()
			return nil, err
		}
	}
	s.Close()
	return st, nil
}

func (s *Streamer) Close() {
	if s.w != nil && s.err == nil {
		s.w.Abort()
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.releaseBuf()
	s.dropHead()
}
