package s3fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/s3vol/s3vol/store"
)

// errNeedStaging says an operation needs random access to content that is
// being streamed: the file node then moves it to a staging file and
// retries.
var errNeedStaging = errors.New("random access to a streamed file")

// firstBuffer is the first size of a stream's buffer; it doubles up to
// one part as the file grows, so that many small files open at once do not
// each hold a whole part of the memory budget.
const firstBuffer = 64 << 10

// wholePartAfter is the buffer size past which a stream takes a whole part.
const wholePartAfter = 1 << 20

// streamer is the local content of a file written from its start onwards,
// the common case of a new file (cp, tar, a download, a log). Its first
// part stays in memory, so a small file is stored with one PUT at close and
// can still be read back or rewritten; once the file outgrows one part a
// multipart upload starts and every further part is uploaded in the
// background while the writer keeps writing, in bounded memory (the
// store.Writer's parts come from the memory budget). The first part is
// also kept in a local file (the head), so that it can still be read back
// and overwritten: many formats rewrite a header at offset 0 once the rest
// is written (WAV, MP4, HDF5), and the head's part is then sent again at
// close. Any other random access needs the staging file (errNeedStaging).
type streamer struct {
	f *fsys
	// start names the object and its attributes when the upload starts.
	start func() (key string, a attrs)

	buf  []byte // the first bytes, from the memory budget; nil once uploading
	size int64

	w      *store.Writer // the multipart upload, once started
	key    string        // the key being uploaded
	sent   attrs         // the attributes sent with the upload
	cancel context.CancelFunc
	err    error // the upload's failure: the content is lost

	head      *os.File // the first part's bytes once uploading; nil if it could not be kept
	headDirty bool     // head was overwritten since its part was sent
}

func newStreamer(f *fsys, start func() (string, attrs)) *streamer {
	return &streamer{f: f, start: start}
}

func (s *streamer) length() int64 { return s.size }

func (s *streamer) uploading() bool { return s.w != nil }

func (s *streamer) writeAt(ctx context.Context, p []byte, off int64) error {
	if s.err != nil {
		return s.err
	}
	if off != s.size {
		return s.overwriteHead(p, off)
	}
	end := s.size + int64(len(p))
	if s.w == nil && end <= s.f.opts.PartSize {
		if !s.grow(end) {
			return errNeedStaging // the memory budget is spent: spill to disk
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
func (s *streamer) grow(size int64) bool {
	if size <= int64(cap(s.buf)) {
		return true
	}
	n := max(int64(firstBuffer), 2*int64(cap(s.buf)))
	for n < size {
		n *= 2
	}
	if n > wholePartAfter { // PartSize is at least store.MinPartSize, past it
		n = s.f.opts.PartSize
	}
	nb, ok := s.f.pool.TryGet(int(n))
	if !ok {
		return false
	}
	nb = nb[:len(s.buf)]
	copy(nb, s.buf)
	s.releaseBuf()
	s.buf = nb
	return true
}

func (s *streamer) releaseBuf() {
	if s.buf != nil {
		s.f.pool.Put(s.buf[:cap(s.buf)])
		s.buf = nil
	}
}

// startUpload starts the multipart upload with the bytes buffered so far.
func (s *streamer) startUpload() error {
	s.key, s.sent = s.start()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.w = s.f.newWriter(ctx, s.key, store.PutOptions{Metadata: s.sent.metadata(kindFile)}, 0)
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
func (s *streamer) openHead() {
	file, err := s.f.localFile("head")
	if err != nil {
		s.f.log.WithError(err).Warn(msgHeadNotKept)
		return
	}
	s.head = file
}

// keepHead copies what p, written at off, holds of the first part into
// the head.
func (s *streamer) keepHead(p []byte, off int64) {
	part := s.f.opts.PartSize
	if s.head == nil || off >= part {
		return
	}
	p = p[:min(int64(len(p)), part-off)]
	if _, err := s.head.WriteAt(p, off); err != nil {
		s.f.log.WithError(err).Warn(msgHeadNotKept)
		s.dropHead()
	}
}

// headLen is how many bytes the head holds: writes are appends while
// streaming, so it is the first part, or all of a shorter file.
func (s *streamer) headLen() int64 {
	if s.head == nil {
		return 0
	}
	return min(s.size, s.f.opts.PartSize)
}

// overwriteHead writes p at off into the head when it lies within the
// first part, already sent; anything else needs the staging file.
func (s *streamer) overwriteHead(p []byte, off int64) error {
	if s.w == nil || off+int64(len(p)) > s.headLen() {
		return errNeedStaging
	}
	s.headDirty = true // even a failed write may have changed it
	if _, err := s.head.WriteAt(p, off); err != nil {
		return fmt.Errorf("overwriting the start of a file being written: %w", err)
	}
	return nil
}

func (s *streamer) dropHead() {
	if s.head != nil {
		s.head.Close()
		s.head = nil
	}
}

// failed records an upload failure: the parts already sent cannot be
// read back, so the content is lost and every later write, commit and
// read fails.
func (s *streamer) failed(err error) error {
	s.err = fmt.Errorf("streaming upload of %q failed, the file's new content is lost: %w", s.key, err)
	s.w.Abort()
	s.cancel()
	return s.err
}

func (s *streamer) readAt(ctx context.Context, p []byte, off int64) (int, error) {
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
func (s *streamer) readHead(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > s.headLen() {
		return 0, errNeedStaging
	}
	n, err := s.head.ReadAt(p, off)
	if err != nil {
		return n, fmt.Errorf("reading the start of a file being written: %w", err)
	}
	return n, nil
}

func (s *streamer) truncate(size int64) error {
	switch {
	case s.err != nil:
		return s.err
	case size == s.size:
		return nil
	case s.w != nil || size > s.f.opts.PartSize || !s.grow(size):
		return errNeedStaging
	}
	old := s.size
	s.buf = s.buf[:size]
	if size > old {
		clear(s.buf[old:])
	}
	s.size = size
	return nil
}

// commit stores the content as key: one PUT of the buffer, or the
// completion of the multipart upload. A file renamed while streaming is
// completed under its old key, then moved.
func (s *streamer) commit(ctx context.Context, key string, opts store.PutOptions) (store.Object, error) {
	if s.err != nil {
		return store.Object{}, s.err
	}
	if s.w == nil {
		ctx, cancel := s.f.transferCtx(ctx)
		defer cancel()
		return s.f.st.Put(ctx, key, bytes.NewReader(s.buf), s.size, opts)
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
		moved, err := s.f.copyObject(ctx, s.key, key, obj.ETag)
		if err == nil {
			err = s.f.deleteKey(ctx, s.key)
		}
		if err != nil {
			return store.Object{}, err
		}
		obj = moved
	}
	return obj, nil
}

// toStaged moves buffered content to a new staging file; it must not be
// uploading.
func (s *streamer) toStaged() (*staged, error) {
	st := newStaged(s.f, base{})
	if s.size > 0 {
		if err := st.writeAt(context.Background(), s.buf, 0); err != nil {
			st.close()
			return nil, err
		}
	}
	s.close()
	return st, nil
}

func (s *streamer) close() {
	if s.w != nil && s.err == nil {
		s.w.Abort()
	}
	if s.cancel != nil {
		s.cancel()
	}
	s.releaseBuf()
	s.dropHead()
}
