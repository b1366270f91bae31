package observe

import (
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/prometheus/client_golang/prometheus"
)

// fuseMetrics are the FUSE requests' metrics, by operation and volume.
type fuseMetrics struct {
	ops      *prometheus.CounterVec
	errors   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	read     *prometheus.CounterVec
	written  *prometheus.CounterVec
}

func newFUSEMetrics() fuseMetrics {
	return fuseMetrics{
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "fuse", Name: "ops_total",
			Help: "FUSE requests by operation and volume (or view).",
		}, []string{"op", "volume"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "fuse", Name: "errors_total",
			Help: "FUSE requests answered with an error, by operation and volume; a lookup of a missing name is not an error.",
		}, []string{"op", "volume"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "fuse", Name: "op_duration_seconds",
			Help: "Latency of FUSE requests by operation and volume.",
			// 100 µs (a cached getattr) to about 26 s (a flush of a large file).
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
		}, []string{"op", "volume"}),
		read: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "fuse", Name: "read_bytes_total",
			Help: "Bytes read through the mount, by volume.",
		}, []string{"volume"}),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "fuse", Name: "written_bytes_total",
			Help: "Bytes written through the mount, by volume.",
		}, []string{"volume"}),
	}
}

func (f fuseMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{f.ops, f.errors, f.duration, f.read, f.written}
}

// FUSE returns the wrapper that counts the FUSE requests of one mount of
// volume (s3fs.Options.WrapFS). The common requests are counted (see
// fuseOp's callers); the rare ones (locks, xattrs, ioctl) pass through
// uncounted. The series of a volume stay after it is unmounted, so that a
// remount does not reset its counters; the label is the volume's (or
// view's) name, never a file's.
func (m *Metrics) FUSE(volume string) func(fuse.RawFileSystem) fuse.RawFileSystem {
	v := prometheus.Labels{"volume": volume}
	c := &fuseCounters{
		ops:      m.fuse.ops.MustCurryWith(v),
		errors:   m.fuse.errors.MustCurryWith(v),
		duration: m.fuse.duration.MustCurryWith(v),
		read:     m.fuse.read.With(v),
		written:  m.fuse.written.With(v),
	}
	return func(fs fuse.RawFileSystem) fuse.RawFileSystem { return &meteredFS{RawFileSystem: fs, c: c} }
}

// Forget drops the FUSE, object-store and memory series of volume, once it
// is removed, so that volumes created and removed over the daemon's life do
// not pile up.
func (m *Metrics) Forget(volume string) {
	v := prometheus.Labels{"volume": volume}
	m.volumeS3.requests.DeletePartialMatch(v)
	m.volumeS3.bytes.DeletePartialMatch(v)
	m.fuse.ops.DeletePartialMatch(v)
	m.fuse.errors.DeletePartialMatch(v)
	m.fuse.duration.DeletePartialMatch(v)
	m.fuse.read.Delete(v)
	m.fuse.written.Delete(v)
	m.memory.forget(volume)
}

// fuseCounters are one volume's FUSE metrics.
type fuseCounters struct {
	ops, errors   *prometheus.CounterVec
	duration      prometheus.ObserverVec
	read, written prometheus.Counter
}

// done records one request of op that started at start and ended with st.
func (c *fuseCounters) done(op string, start time.Time, st fuse.Status) {
	c.ops.WithLabelValues(op).Inc()
	c.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if !st.Ok() && !(op == "lookup" && st == fuse.ENOENT) {
		c.errors.WithLabelValues(op).Inc()
	}
}

// meteredFS counts the requests it passes to the wrapped filesystem.
type meteredFS struct {
	fuse.RawFileSystem
	c *fuseCounters
}

// timed runs one request of op through call and records it. The requests
// that answer only a status go through it; those that also return data
// (read, write, readlink, copy_file_range) are written out below.
func (m *meteredFS) timed(op string, call func() fuse.Status) fuse.Status {
	start := time.Now()
	st := call()
	m.c.done(op, start, st)
	return st
}

func (m *meteredFS) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	return m.timed("lookup", func() fuse.Status { return m.RawFileSystem.Lookup(cancel, h, name, out) })
}

func (m *meteredFS) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	return m.timed("getattr", func() fuse.Status { return m.RawFileSystem.GetAttr(cancel, in, out) })
}

func (m *meteredFS) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	return m.timed("setattr", func() fuse.Status { return m.RawFileSystem.SetAttr(cancel, in, out) })
}

func (m *meteredFS) Mknod(cancel <-chan struct{}, in *fuse.MknodIn, name string, out *fuse.EntryOut) fuse.Status {
	return m.timed("mknod", func() fuse.Status { return m.RawFileSystem.Mknod(cancel, in, name, out) })
}

func (m *meteredFS) Mkdir(cancel <-chan struct{}, in *fuse.MkdirIn, name string, out *fuse.EntryOut) fuse.Status {
	return m.timed("mkdir", func() fuse.Status { return m.RawFileSystem.Mkdir(cancel, in, name, out) })
}

func (m *meteredFS) Unlink(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return m.timed("unlink", func() fuse.Status { return m.RawFileSystem.Unlink(cancel, h, name) })
}

func (m *meteredFS) Rmdir(cancel <-chan struct{}, h *fuse.InHeader, name string) fuse.Status {
	return m.timed("rmdir", func() fuse.Status { return m.RawFileSystem.Rmdir(cancel, h, name) })
}

func (m *meteredFS) Rename(cancel <-chan struct{}, in *fuse.RenameIn, oldName, newName string) fuse.Status {
	return m.timed("rename", func() fuse.Status { return m.RawFileSystem.Rename(cancel, in, oldName, newName) })
}

func (m *meteredFS) Link(cancel <-chan struct{}, in *fuse.LinkIn, name string, out *fuse.EntryOut) fuse.Status {
	return m.timed("link", func() fuse.Status { return m.RawFileSystem.Link(cancel, in, name, out) })
}

func (m *meteredFS) Symlink(cancel <-chan struct{}, h *fuse.InHeader, target, name string, out *fuse.EntryOut) fuse.Status {
	return m.timed("symlink", func() fuse.Status { return m.RawFileSystem.Symlink(cancel, h, target, name, out) })
}

func (m *meteredFS) Readlink(cancel <-chan struct{}, h *fuse.InHeader) ([]byte, fuse.Status) {
	start := time.Now()
	out, st := m.RawFileSystem.Readlink(cancel, h)
	m.c.done("readlink", start, st)
	return out, st
}

func (m *meteredFS) Create(cancel <-chan struct{}, in *fuse.CreateIn, name string, out *fuse.CreateOut) fuse.Status {
	return m.timed("create", func() fuse.Status { return m.RawFileSystem.Create(cancel, in, name, out) })
}

func (m *meteredFS) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	return m.timed("open", func() fuse.Status { return m.RawFileSystem.Open(cancel, in, out) })
}

// Read counts the bytes the answer holds.
func (m *meteredFS) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	start := time.Now()
	res, st := m.RawFileSystem.Read(cancel, in, buf)
	m.c.done("read", start, st)
	if st.Ok() && res != nil {
		m.c.read.Add(float64(res.Size()))
	}
	return res, st
}

func (m *meteredFS) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	start := time.Now()
	n, st := m.RawFileSystem.Write(cancel, in, data)
	m.c.done("write", start, st)
	m.c.written.Add(float64(n))
	return n, st
}

// Writev is tried before Write; a filesystem without it answers ENOSYS
// and the server falls back to Write, which is then the one counted.
func (m *meteredFS) Writev(cancel <-chan struct{}, in *fuse.WriteIn, data [][]byte) (uint32, fuse.Status) {
	start := time.Now()
	n, st := m.RawFileSystem.Writev(cancel, in, data)
	if st == fuse.ENOSYS {
		return n, st
	}
	m.c.done("write", start, st)
	m.c.written.Add(float64(n))
	return n, st
}

func (m *meteredFS) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	return m.timed("flush", func() fuse.Status { return m.RawFileSystem.Flush(cancel, in) })
}

func (m *meteredFS) Fsync(cancel <-chan struct{}, in *fuse.FsyncIn) fuse.Status {
	return m.timed("fsync", func() fuse.Status { return m.RawFileSystem.Fsync(cancel, in) })
}

func (m *meteredFS) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	start := time.Now()
	m.RawFileSystem.Release(cancel, in)
	m.c.done("release", start, fuse.OK)
}

func (m *meteredFS) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	return m.timed("opendir", func() fuse.Status { return m.RawFileSystem.OpenDir(cancel, in, out) })
}

func (m *meteredFS) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return m.timed("readdir", func() fuse.Status { return m.RawFileSystem.ReadDir(cancel, in, out) })
}

func (m *meteredFS) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return m.timed("readdir", func() fuse.Status { return m.RawFileSystem.ReadDirPlus(cancel, in, out) })
}

func (m *meteredFS) StatFs(cancel <-chan struct{}, h *fuse.InHeader, out *fuse.StatfsOut) fuse.Status {
	return m.timed("statfs", func() fuse.Status { return m.RawFileSystem.StatFs(cancel, h, out) })
}

func (m *meteredFS) Fallocate(cancel <-chan struct{}, in *fuse.FallocateIn) fuse.Status {
	return m.timed("fallocate", func() fuse.Status { return m.RawFileSystem.Fallocate(cancel, in) })
}

func (m *meteredFS) CopyFileRange(cancel <-chan struct{}, in *fuse.CopyFileRangeIn) (uint32, fuse.Status) {
	start := time.Now()
	n, st := m.RawFileSystem.CopyFileRange(cancel, in)
	m.c.done("copy_file_range", start, st)
	m.c.written.Add(float64(n))
	return n, st
}
