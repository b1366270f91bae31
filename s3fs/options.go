package s3fs

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/internal/bufpool"
	"github.com/s3vol/s3vol/store"
)

// DefaultOpTimeout is Options.OpTimeout's default.
const DefaultOpTimeout = 10 * time.Second

// Options configures one mount.
type Options struct {
	// Store is the bucket the filesystem lives in. Required.
	Store store.Store
	// Prefix is the key prefix served as the root directory: "" for the
	// whole bucket, otherwise a prefix ending in "/" (a volume, or a
	// subpath inside one).
	Prefix   string
	ReadOnly bool

	// UID, GID, FileMode and DirMode are the owner and permissions shown for
	// objects that carry no metadata of their own (written by other tools).
	UID, GID uint32
	FileMode os.FileMode // default 0644
	DirMode  os.FileMode // default 0755

	// MetadataTTL is how long attributes, listings and negative lookups
	// stay cached before they are checked against the store again. It
	// bounds how late changes made elsewhere become visible (plus the time
	// one listing takes, in a directory so big that it takes more than
	// half the TTL). Negative means
	// the default (1s); 0 revalidates on every access.
	MetadataTTL time.Duration

	// CacheDir holds the staging files of files being modified in place.
	// Default: os.TempDir()/s3vol-staging.
	CacheDir string
	// Buffers is the memory budget shared by read-ahead and upload buffers.
	// Default: a private pool of 256 MiB.
	Buffers *bufpool.Pool
	Logger  logrus.FieldLogger

	// ReadAheadMax caps the read-ahead window of one open file
	// (default 64 MiB); read-ahead starts at 1 MiB and doubles on
	// sequential access.
	ReadAheadMax int64
	// ReadChunkMax caps one ranged GET of the read-ahead (default 8 MiB);
	// the window is fetched as several chunks in parallel.
	ReadChunkMax int64
	// PartSize is the part size of streaming uploads and the threshold
	// above which a new file is uploaded as a multipart upload
	// (default 8 MiB, at least store.MinPartSize).
	PartSize int64
	// UploadConcurrency bounds the parts of one file in flight (default 4).
	UploadConcurrency int
	// StoreConcurrency bounds the parallel requests of bulk operations:
	// directory renames, attribute fetches during a listing (default 32).
	StoreConcurrency int
	// FastListing trusts LIST results for the attributes of listed files
	// and directories whose metadata is not known yet: `ls -l` then costs
	// LIST requests only, but those entries show the default mode and
	// owner and their LastModified as mtime until they are looked up by
	// name. Objects that could be symlinks (1 to 4095 bytes) are still
	// read. Off by default: a listing reads the metadata it lacks (one HEAD
	// per such entry, in parallel, once).
	FastListing bool
	// OpTimeout bounds how long a store request may make no progress
	// (default 10s): no answer, no byte of a body read or sent, no key
	// listed. The request then fails, and the system call waiting for it
	// with EIO: with the store hanging, each request the kernel sends
	// ends within OpTimeout, and a system call (which may cost the kernel
	// a revalidation, a lookup and the call itself) within three times
	// that. Work that keeps the store
	// busy (a big commit, a directory rename) goes on while it makes
	// progress; a server-side copy is allowed OpTimeout plus a second
	// per 10 MiB.
	OpTimeout time.Duration
	// RequestTimeout bounds a single metadata request (default 30s);
	// data transfers are bounded by TransferTimeout (default 10m).
	RequestTimeout  time.Duration
	TransferTimeout time.Duration
	// KernelReadAhead is the kernel's read-ahead for the mount (default
	// 1 MiB, against the kernel's 128 KiB): sequential reads then reach the
	// filesystem as 1 MiB requests. More was measured slower: the kernel
	// then runs ahead of the filesystem's own read-ahead.
	KernelReadAhead int64
	// MaxBackground is the kernel's limit of asynchronous requests
	// (read-ahead, writes) in flight (default 64).
	MaxBackground int
	// Debug logs every FUSE request (very verbose).
	Debug bool
	// WrapFS, when set, wraps the filesystem the FUSE server calls, so
	// that the caller sees every request (metrics); it must pass each one
	// on unchanged.
	WrapFS func(fuse.RawFileSystem) fuse.RawFileSystem

	// clock replaces time.Now for the freshness of cached metadata (tests
	// only; see fsys.clock).
	clock func() time.Time
}

// withDefaults validates o and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
	if o.Store == nil {
		return o, fmt.Errorf("s3fs: no store given")
	}
	if o.Prefix != "" && !strings.HasSuffix(o.Prefix, "/") {
		return o, fmt.Errorf("s3fs: prefix %q must be empty or end in \"/\"", o.Prefix)
	}
	if strings.HasPrefix(o.Prefix, "/") || strings.Contains(o.Prefix, "//") {
		return o, fmt.Errorf("s3fs: prefix %q has an empty path component", o.Prefix)
	}
	for _, c := range strings.Split(strings.TrimSuffix(o.Prefix, "/"), "/") {
		if c == "." || c == ".." {
			return o, fmt.Errorf("s3fs: prefix %q has a %q component", o.Prefix, c)
		}
	}
	if o.FileMode == 0 {
		o.FileMode = 0o644
	}
	if o.DirMode == 0 {
		o.DirMode = 0o755
	}
	if o.MetadataTTL < 0 {
		o.MetadataTTL = time.Second
	}
	if o.CacheDir == "" {
		o.CacheDir = os.TempDir() + "/s3vol-staging"
	}
	if o.Buffers == nil {
		o.Buffers = bufpool.New(256 << 20)
	}
	if o.Logger == nil {
		o.Logger = logrus.StandardLogger()
	}
	setDefault(&o.ReadAheadMax, 64<<20)
	setDefault(&o.ReadChunkMax, 8<<20)
	setDefault(&o.PartSize, 8<<20)
	o.PartSize = max(o.PartSize, store.MinPartSize)
	setDefault(&o.UploadConcurrency, 4)
	setDefault(&o.StoreConcurrency, 32)
	setDefault(&o.OpTimeout, DefaultOpTimeout)
	setDefault(&o.RequestTimeout, 30*time.Second)
	setDefault(&o.TransferTimeout, 10*time.Minute)
	setDefault(&o.MaxBackground, 64)
	setDefault(&o.KernelReadAhead, 1<<20)
	// A buffer must fit the budget, or every Get of one would fail.
	budget := o.Buffers.Budget()
	if o.PartSize > budget/2 {
		return o, fmt.Errorf("s3fs: part size %d bytes needs a memory budget of at least twice that (budget is %d bytes)", o.PartSize, budget)
	}
	o.ReadChunkMax = min(o.ReadChunkMax, budget/4)
	o.ReadAheadMax = max(min(o.ReadAheadMax, budget/2), o.ReadChunkMax)
	return o, nil
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}
