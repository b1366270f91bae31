package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// Defaults of WriterOptions.
const (
	DefaultPartSize    = 8 << 20
	DefaultConcurrency = 4
	// maxPartSize is S3's largest part.
	maxPartSize = 5 << 30
	// growEvery is how many parts of one size a Writer uploads before it
	// doubles the part size, so that an object of unknown length still fits
	// in MaxParts parts: 1000 parts each of 8 MiB, 16 MiB, ... reach 8 TiB,
	// past S3's 5 TiB object limit.
	growEvery = 1000
	// abortTimeout bounds the cleanup of a failed upload, which runs after
	// the writer's own context may have ended.
	abortTimeout = time.Minute
)

// BufferPool hands out the part buffers a Writer fills; *bufpool.Pool
// satisfies it, which puts every upload under the daemon's memory budget.
type BufferPool interface {
	Get(ctx context.Context, size int) ([]byte, error)
	Put(b []byte)
}

// tryPool is a BufferPool that can also hand out a buffer without waiting
// (*bufpool.Pool can); WriterOptions.Spill needs it.
type tryPool interface {
	BufferPool
	TryGet(size int) ([]byte, bool)
}

// WriterOptions shapes a Writer's upload.
type WriterOptions struct {
	// PartSize is the size of the first parts (default DefaultPartSize, at
	// least MinPartSize). It doubles every 1000 parts so that any object
	// fits in MaxParts parts.
	PartSize int
	// Concurrency is how many parts may be uploading at once (default
	// DefaultConcurrency). The writer holds at most Concurrency+1 buffers.
	Concurrency int
	// Pool supplies part buffers; nil allocates them (still bounded by
	// Concurrency).
	Pool BufferPool
	// SizeHint is the expected total size when known (0 when not); it
	// raises the part size up front for very large objects.
	SizeHint int64
	// Spill, when set, makes the writer never wait for memory that only
	// others can give back: a part that finds no room in Pool (which must
	// then have a TryGet(size) ([]byte, bool) method, as *bufpool.Pool
	// has) waits only for the writer's own parts in flight to return
	// their buffers, and when it still finds no room it is filled in a
	// file from Spill instead (an unlinked file on local disk; the writer
	// closes it once the part is sent). Without it the writer waits for
	// the pool as long as its context allows: buffers held by idle
	// writers elsewhere (open, half-written files) could otherwise stall
	// it for good. A full disk fails the write with ErrNoSpace.
	Spill func() (*os.File, error)
}

// Writer streams an object of unknown length to a Store in bounded memory.
// Data fills a part buffer; an object that fits in one part is stored with
// one Put at Close, a larger one with a multipart upload that keeps up to
// Concurrency parts in flight while the caller keeps writing. Nothing is
// visible until Close returns nil. A Writer is not safe for concurrent use.
type Writer struct {
	st     Store
	key    string
	opts   PutOptions
	wo     WriterOptions
	parent context.Context
	ctx    context.Context // cancelled on the first failure or Abort
	cancel context.CancelFunc

	buf   []byte   // the part being filled in memory, nil between parts
	file  *os.File // the part being filled on disk instead (Spill), or nil
	size  int      // the capacity of the part being filled
	fill  int      // bytes of the part filled
	parts int      // parts handed to uploads so far
	total int64

	mp       Multipart
	inflight chan struct{} // one token per part uploading
	partDone chan struct{} // a part was sent and its buffer returned
	wg       sync.WaitGroup

	mu  sync.Mutex
	err error // first failure of an upload

	replace []replacement // parts to upload again at Close

	closed   bool
	closeErr error
	obj      Object
}

// replacement is a part uploaded again at Close (see ReplacePart).
type replacement struct {
	n    int
	r    io.ReaderAt
	size int64
}

// errWriterClosed is returned by writes after Close or Abort.
var errWriterClosed = errors.New("writer already closed")

// NewWriter returns a Writer that stores key in st with opts (metadata and
// conditions, checked when the object is committed at Close).
func NewWriter(ctx context.Context, st Store, key string, opts PutOptions, wo WriterOptions) *Writer {
	if wo.PartSize <= 0 {
		wo.PartSize = DefaultPartSize
	}
	wo.PartSize = max(wo.PartSize, MinPartSize)
	if wo.Concurrency <= 0 {
		wo.Concurrency = DefaultConcurrency
	}
	if wo.Pool == nil {
		wo.Pool = allocPool{}
	}
	wctx, cancel := context.WithCancel(ctx)
	return &Writer{st: st, key: key, opts: opts, wo: wo, parent: ctx, ctx: wctx, cancel: cancel,
		inflight: make(chan struct{}, wo.Concurrency), partDone: make(chan struct{}, wo.Concurrency)}
}

// Write buffers p, handing full parts to background uploads. It returns the
// first upload failure as soon as it is known.
func (w *Writer) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if err := w.ensureRoom(); err != nil {
			return n, err
		}
		c, err := w.fillFrom(p)
		w.fill += c
		w.total += int64(c)
		n += c
		p = p[c:]
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// fillFrom copies what fits of p into the part being filled.
func (w *Writer) fillFrom(p []byte) (int, error) {
	if w.file == nil {
		return copy(w.buf[w.fill:], p), nil
	}
	p = p[:min(len(p), w.size-w.fill)]
	n, err := w.file.WriteAt(p, int64(w.fill))
	if err != nil {
		err = w.spillErr(err)
		w.fail(err)
	}
	return n, err
}

// spillErr is the error of a failed write to a spill file: ErrNoSpace when
// the disk is full.
func (w *Writer) spillErr(err error) error {
	var kind error
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		kind = ErrNoSpace
	}
	return NewError("write", w.key, kind, fmt.Errorf("writing a part to local disk: %w", err))
}

// ReadFrom reads r to its end straight into part buffers (io.Copy uses it).
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	for {
		if err := w.ensureRoom(); err != nil {
			return n, err
		}
		c, err := w.readPart(r)
		w.fill += c
		w.total += int64(c)
		n += int64(c)
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// readPart reads from r into the part being filled.
func (w *Writer) readPart(r io.Reader) (int, error) {
	if w.file == nil {
		return r.Read(w.buf[w.fill:])
	}
	c, err := io.CopyN(io.NewOffsetWriter(w.file, int64(w.fill)), r, int64(w.size-w.fill))
	if errors.Is(err, io.EOF) || err == nil {
		return int(c), err
	}
	var pe *os.PathError
	if errors.As(err, &pe) && pe.Path == w.file.Name() { // the disk, not r, failed
		err = w.spillErr(err)
		w.fail(err)
	}
	return int(c), err
}

// Adopt continues the object with buf, a buffer from the writer's pool
// holding the object's next len(buf) bytes, and takes ownership of it: the
// caller must not touch buf again. Before the first write, a buffer of
// exactly the first part's capacity becomes that part as it is, sparing a
// copy and a second buffer; otherwise its bytes are written as by Write
// and the buffer goes back to the pool.
func (w *Writer) Adopt(buf []byte) (int, error) {
	if w.hasPart() || w.parts > 0 || w.closed || w.failure() != nil || cap(buf) != w.wo.PartSizeAt(1) {
		n, err := w.Write(buf)
		w.wo.Pool.Put(buf[:cap(buf)])
		return n, err
	}
	w.buf, w.size, w.fill = buf[:cap(buf)], cap(buf), len(buf)
	w.total += int64(len(buf))
	return len(buf), nil
}

// ReplacePart has part n, already handed to the upload, uploaded again at
// Close from the size bytes of r, once the parts in flight are done: the
// bytes of a part sent earlier were overwritten since (a header rewritten
// at the end of a file). r must stay readable until Close returns.
func (w *Writer) ReplacePart(n int, r io.ReaderAt, size int64) error {
	if w.closed {
		return NewError("write", w.key, ErrInvalidArgument, errWriterClosed)
	}
	if n < 1 || n > w.parts {
		return NewError("write", w.key, ErrInvalidArgument,
			fmt.Errorf("part %d cannot be replaced: %d parts were sent so far", n, w.parts))
	}
	for i := range w.replace {
		if w.replace[i].n == n {
			w.replace[i] = replacement{n, r, size}
			return nil
		}
	}
	w.replace = append(w.replace, replacement{n, r, size})
	return nil
}

// ensureRoom makes sure buf has free space: it uploads a full buffer and
// takes a fresh one. A full buffer is uploaded only once more data comes,
// so an object of exactly one part still takes a single Put.
func (w *Writer) ensureRoom() error {
	if w.closed {
		return NewError("write", w.key, ErrInvalidArgument, errWriterClosed)
	}
	if err := w.failure(); err != nil {
		return err
	}
	if w.hasPart() && w.fill == w.size {
		if err := w.flush(); err != nil {
			return err
		}
	}
	if !w.hasPart() {
		size, err := w.partSize(w.parts + 1)
		if err != nil {
			return err
		}
		if err := w.takePart(size); err != nil {
			return err
		}
		w.size, w.fill = size, 0
	}
	return nil
}

func (w *Writer) hasPart() bool { return w.buf != nil || w.file != nil }

// takePart takes the room for the next part: memory from the pool or,
// with Spill, a file when the pool has no room that the writer's own
// parts in flight will give back.
func (w *Writer) takePart(size int) error {
	pool, canTry := w.wo.Pool.(tryPool)
	if w.wo.Spill == nil || !canTry {
		buf, err := w.wo.Pool.Get(w.ctx, size)
		if err != nil {
			return NewError("write", w.key, nil, fmt.Errorf("waiting for a %d-byte part buffer: %w", size, err))
		}
		w.buf = buf
		return nil
	}
	for {
		if buf, ok := pool.TryGet(size); ok {
			w.buf = buf
			return nil
		}
		if len(w.inflight) == 0 {
			return w.spillPart()
		}
		// A part in flight gives its buffer back once sent (unless
		// someone else takes the memory first: then look again).
		select {
		case <-w.partDone:
		case <-w.ctx.Done():
			if err := w.failure(); err != nil {
				return err
			}
			return NewError("write", w.key, nil, w.ctx.Err())
		}
	}
}

// spillPart takes a spill file for the next part.
func (w *Writer) spillPart() error {
	file, err := w.wo.Spill()
	if err != nil {
		err = w.spillErr(err)
		w.fail(err)
		return err
	}
	w.file = file
	return nil
}

// partSize is the buffer size for part n.
func (w *Writer) partSize(n int) (int, error) {
	if n > MaxParts {
		return 0, NewError("write", w.key, ErrInvalidArgument,
			fmt.Errorf("object too large: more than %d parts", MaxParts))
	}
	return w.wo.PartSizeAt(n), nil
}

// PartSizeAt is the size of part n (from 1) of an upload with these
// options: PartSize (or its default), raised for a large SizeHint, doubled
// every 1000 parts, at most S3's 5 GiB.
func (wo WriterOptions) PartSizeAt(n int) int {
	size := int64(max(wo.PartSize, MinPartSize))
	if wo.PartSize <= 0 {
		size = DefaultPartSize
	}
	if wo.SizeHint > 0 {
		// Aim at half of MaxParts, leaving room for the hint to be exceeded.
		size = max(size, (wo.SizeHint/(MaxParts/2)+(1<<20)-1)&^((1<<20)-1))
	}
	size <<= min((n-1)/growEvery, 20)
	return int(min(size, maxPartSize))
}

// flush hands the full buffer to a background upload, starting the
// multipart upload on the first part and waiting for a free upload slot.
func (w *Writer) flush() error {
	if w.mp == nil {
		mp, err := w.st.NewMultipart(w.ctx, w.key, w.opts)
		if err != nil {
			w.fail(err)
			return err
		}
		w.mp = mp
	}
	select {
	case w.inflight <- struct{}{}:
	case <-w.ctx.Done():
		if err := w.failure(); err != nil {
			return err
		}
		return NewError("write", w.key, nil, w.ctx.Err())
	}
	w.parts++
	n, size := w.parts, w.fill
	data, release := w.takeFilled()
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		err := w.mp.UploadPart(w.ctx, n, data, int64(size))
		release()
		<-w.inflight
		select {
		case w.partDone <- struct{}{}:
		default: // a wake-up is pending already
		}
		if err != nil {
			w.fail(err)
		}
	}()
	return nil
}

// takeFilled hands over the part filled so far: a reader of its bytes and
// the function that frees its memory or file once they are sent.
func (w *Writer) takeFilled() (io.ReadSeeker, func()) {
	buf, file, fill := w.buf, w.file, w.fill
	w.buf, w.file, w.size, w.fill = nil, nil, 0, 0
	if file != nil {
		return io.NewSectionReader(file, 0, int64(fill)), func() { file.Close() }
	}
	release := func() {}
	if buf != nil {
		release = func() { w.wo.Pool.Put(buf) }
	}
	return bytes.NewReader(buf[:fill]), release
}

// fail records the first failure and stops the other uploads.
func (w *Writer) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.cancel()
}

func (w *Writer) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close commits the object: one Put when it fits in one part, else the
// last part and the multipart completion. On any failure the upload is
// aborted and the first error returned; the object is then unchanged.
// Closing twice returns the first result.
func (w *Writer) Close() error {
	if w.closed {
		return w.closeErr
	}
	w.closed = true
	w.closeErr = w.commit()
	if w.closeErr != nil {
		w.discard()
	}
	w.cancel()
	return w.closeErr
}

func (w *Writer) commit() error {
	if err := w.failure(); err != nil {
		return err
	}
	if w.mp == nil {
		size := w.fill
		data, release := w.takeFilled()
		obj, err := w.st.Put(w.ctx, w.key, data, int64(size), w.opts)
		release()
		w.obj = obj
		return err
	}
	if w.fill > 0 {
		if err := w.flush(); err != nil {
			return err
		}
	}
	w.releaseBuf()
	w.wg.Wait()
	if err := w.failure(); err != nil {
		return err
	}
	for _, p := range w.replace {
		if err := w.mp.UploadPart(w.ctx, p.n, io.NewSectionReader(p.r, 0, p.size), p.size); err != nil {
			return err
		}
	}
	obj, err := w.mp.Complete(w.ctx)
	if err != nil {
		return err
	}
	w.mp = nil // committed: nothing left to abort
	w.obj = obj
	return nil
}

// Abort discards everything written; the stored object is unchanged. It
// returns the error of aborting the multipart upload, if any.
func (w *Writer) Abort() error {
	if w.closed {
		return nil
	}
	w.closed = true
	w.closeErr = NewError("write", w.key, ErrInvalidArgument, errors.New("writer aborted"))
	return w.discard()
}

// discard stops the uploads, frees the buffers and aborts the multipart
// upload with a context of its own (the writer's may be what failed).
func (w *Writer) discard() error {
	w.cancel()
	w.wg.Wait()
	w.releaseBuf()
	if w.mp == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.parent), abortTimeout)
	defer cancel()
	err := w.mp.Abort(ctx)
	w.mp = nil
	return err
}

func (w *Writer) releaseBuf() {
	if w.hasPart() {
		_, release := w.takeFilled()
		release()
	}
}

// Object describes the stored object after Close returned nil.
func (w *Writer) Object() Object { return w.obj }

// Written is the number of bytes written so far.
func (w *Writer) Written() int64 { return w.total }

// allocPool allocates every buffer; the writer's Concurrency bounds how
// many exist at once.
type allocPool struct{}

func (allocPool) Get(ctx context.Context, size int) ([]byte, error) { return make([]byte, size), nil }
func (allocPool) Put([]byte)                                        {}
