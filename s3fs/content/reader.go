package content

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/s3vol/s3vol/store"
)

// Read-ahead tuning. A reader starts with a window of readAheadStart bytes
// and doubles it each time the reader moves into a new chunk, up to the
// handle's cap; chunks are a quarter of the window (at least 1 MiB, at
// most ReadChunkMax), so up to four ranged GETs run in parallel ahead of
// the reader (eight at the cap).
const (
	readAheadStart = 1 << 20
	minChunk       = 1 << 20
	// A read within nearSlack (or twice the kernel's read-ahead) of where
	// the last one ended counts as sequential: the kernel issues its
	// read-ahead requests in parallel, so they arrive out of order.
	nearSlack = 1 << 20
	// seqStreak near reads in a row covering seqRun bytes switch
	// read-ahead on (a read at offset 0 does it at once): a random reader
	// never pays for it, even when the kernel splits one of its reads into
	// several requests around pages it still has cached.
	seqStreak = 2
	seqRun    = 512 << 10
	// keepBehind: consumed chunks stay this long behind the reader, for
	// the late requests of the kernel's parallel read-ahead.
	keepBehind = 1 << 20
)

// RangeReader reads one version of an object (its ETag pinned on every
// GET) for one open file: random reads fetch exactly the bytes asked
// for, straight into the kernel's buffer; sequential reads are served
// from a window of chunks fetched ahead in parallel. Chunk buffers come
// from the shared memory budget with TryGet: when the budget is spent,
// read-ahead shrinks instead of waiting.
type RangeReader struct {
	env  *Env
	key  string
	etag string
	size int64

	ctx    context.Context // cancels the prefetches on close
	cancel context.CancelFunc

	mu     sync.Mutex
	window []*chunk // contiguous, ascending
	next   int64    // where the last read ended
	streak int      // near reads in a row
	run    int64    // bytes those reads covered
	far    int      // far reads in a row
	ra     int64    // the window's target size
}

type chunk struct {
	off, end int64
	buf      []byte
	done     chan struct{}
	err      error // set before done is closed
	fetched  bool
	touched  bool // a read has used it
	dropped  bool // out of the window: free once fetched and unused
	users    int  // reads copying from it
}

// NewRangeReader reads size bytes of the object key at version etag.
func NewRangeReader(env *Env, key, etag string, size int64) *RangeReader {
	ctx, cancel := context.WithCancel(context.Background())
	return &RangeReader{env: env, key: key, etag: etag, size: size, ctx: ctx, cancel: cancel, ra: env.readAheadStart(), next: -1}
}

// Read returns the bytes at off, at most len(dest), short only at the end
// of the object. Bytes from read-ahead chunks are handed to the kernel
// straight from the chunk buffers (no copy), which stay referenced until
// the reply is sent; anything else is fetched into dest.
func (r *RangeReader) Read(ctx context.Context, dest []byte, off int64) (*Reply, error) {
	if off >= r.size {
		return &Reply{r: r}, nil
	}
	end := min(off+int64(len(dest)), r.size)
	dest = dest[:end-off]

	res := &Reply{r: r}
	r.mu.Lock()
	if r.sequential(off, end) {
		r.fillWindow(off)
	} else if r.far > 1 {
		r.dropWindow() // random access now: the window is stale
	}
	pos := off
	for pos < end {
		c := r.chunkAt(pos)
		if c == nil {
			break
		}
		if !c.touched {
			c.touched = true
			r.ra = min(2*r.ra, r.env.ReadAheadMax)
		}
		c.users++
		res.chunks = append(res.chunks, c)
		r.mu.Unlock()
		<-c.done
		r.mu.Lock()
		if c.err != nil {
			// A failed chunk is not kept: the next read of its bytes
			// fetches them anew rather than failing again.
			err := c.err
			r.dropWindow()
			r.mu.Unlock()
			res.Done()
			return nil, err
		}
		n := min(end, c.end) - pos
		res.vecs = append(res.vecs, c.buf[pos-c.off:pos-c.off+n])
		pos += n
	}
	r.mu.Unlock()
	if pos < end {
		if err := r.fetchInto(ctx, dest[pos-off:], pos); err != nil {
			res.Done()
			return nil, err
		}
		res.vecs = append(res.vecs, dest[pos-off:])
	}
	return res, nil
}

// Reply is a read's bytes: slices of chunk buffers (and of the request's
// own buffer), handed on without a copy. Done releases the chunks once the
// bytes are delivered (s3fs: once the kernel has them); it must be called.
type Reply struct {
	r      *RangeReader
	chunks []*chunk
	vecs   [][]byte
	once   sync.Once
}

// Size is the number of bytes read.
func (c *Reply) Size() int {
	n := 0
	for _, v := range c.vecs {
		n += len(v)
	}
	return n
}

// Bytes appends the bytes read to buf[:0].
func (c *Reply) Bytes(buf []byte) []byte {
	buf = buf[:0]
	for _, v := range c.vecs {
		buf = append(buf, v...)
	}
	return buf
}

// Slices are the bytes read, in order, to be written with writev(2) from
// the buffers they are in; valid until Done.
func (c *Reply) Slices() [][]byte { return c.vecs }

// Done releases the chunk buffers the reply refers to.
func (c *Reply) Done() {
	c.once.Do(func() {
		c.r.mu.Lock()
		defer c.r.mu.Unlock()
		for _, ch := range c.chunks {
			ch.users--
			c.r.maybeFree(ch)
		}
	})
}

// readAheadStart is the first window: 1 MiB, or more when the kernel's
// own read-ahead asks further ahead than that at once.
func (e *Env) readAheadStart() int64 {
	return min(max(readAheadStart, 2*e.KernelReadAhead), e.ReadAheadMax)
}

// sequential records the access and reports whether it continues a
// sequential run. Called with mu held.
func (r *RangeReader) sequential(off, end int64) bool {
	slack := max(nearSlack, 2*r.env.KernelReadAhead)
	near := r.next >= 0 && off >= r.next-slack && off <= r.next+slack
	switch {
	case off == 0 && r.next < 0:
		r.streak, r.run, r.far = seqStreak, seqRun, 0
	case near || r.inWindow(off):
		r.streak++
		r.run += end - off
		r.far = 0
	default:
		r.streak, r.run = 0, end-off
		r.far++
		r.ra = r.env.readAheadStart()
	}
	r.next = max(r.next, end)
	if !near && !r.inWindow(off) {
		r.next = end
	}
	return r.streak >= seqStreak && r.run >= seqRun
}

func (r *RangeReader) inWindow(off int64) bool {
	return len(r.window) > 0 && off >= r.window[0].off && off < r.window[len(r.window)-1].end
}

func (r *RangeReader) chunkAt(pos int64) *chunk {
	for _, c := range r.window {
		if pos >= c.off && pos < c.end {
			return c
		}
	}
	return nil
}

// fillWindow drops the chunks the reader has left behind and starts
// fetches until the window reaches ra bytes past off. Called with mu held.
func (r *RangeReader) fillWindow(off int64) {
	for len(r.window) > 0 && r.window[0].end+keepBehind <= off {
		r.drop(r.window[0])
		r.window = r.window[1:]
	}
	start := off
	if len(r.window) > 0 {
		last := r.window[len(r.window)-1].end
		if off < r.window[0].off || off > last {
			r.dropWindow()
		} else {
			start = last
		}
	}
	target := min(off+r.ra, r.size)
	chunkSize := min(max(r.ra/4, minChunk), r.env.ReadChunkMax)
	for start < target {
		size := min(chunkSize, r.size-start)
		buf, ok := r.env.Buffers.TryGet(int(size))
		if !ok {
			return // the budget is spent: read on with what we have
		}
		c := &chunk{off: start, end: start + size, buf: buf, done: make(chan struct{})}
		r.window = append(r.window, c)
		go r.prefetch(c)
		start += size
	}
}

func (r *RangeReader) prefetch(c *chunk) {
	ctx, cancel := r.env.transferCtx(r.ctx)
	defer cancel()
	err := r.fetchInto(ctx, c.buf, c.off)
	c.err = err
	close(c.done)
	r.mu.Lock()
	c.fetched = true
	r.maybeFree(c)
	r.mu.Unlock()
}

func (r *RangeReader) drop(c *chunk) {
	c.dropped = true
	r.maybeFree(c)
}

func (r *RangeReader) dropWindow() {
	for _, c := range r.window {
		r.drop(c)
	}
	r.window = nil
}

// maybeFree returns a chunk's buffer once nothing can use it any more.
// Called with mu held.
func (r *RangeReader) maybeFree(c *chunk) {
	if c.dropped && c.fetched && c.users == 0 && c.buf != nil {
		r.env.Buffers.Put(c.buf)
		c.buf = nil
	}
}

// fetchInto reads len(dest) bytes at off with one ranged GET.
func (r *RangeReader) fetchInto(ctx context.Context, dest []byte, off int64) error {
	ctx, cancel := r.env.transferCtx(ctx)
	defer cancel()
	body, _, err := r.env.Store.Get(ctx, r.key, store.GetOptions{Offset: off, Length: int64(len(dest)), IfMatch: r.etag})
	if err != nil {
		return err
	}
	defer body.Close()
	if _, err := io.ReadFull(body, dest); err != nil {
		return fmt.Errorf("reading bytes %d-%d of %q: %w", off, off+int64(len(dest))-1, r.key, err)
	}
	return nil
}

// Close cancels the prefetches and frees the window.
func (r *RangeReader) Close() {
	r.cancel()
	r.mu.Lock()
	r.dropWindow()
	r.mu.Unlock()
}
