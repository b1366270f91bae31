// Package s3fs serves one key prefix of an object store as a POSIX-ish
// directory tree through FUSE (github.com/hanwen/go-fuse/v2), so that real
// programs (git, SQLite, cp, tar, rsync) can live in it, while reads and
// listings stay close to the speed of the raw store.
//
// # Layout
//
// The file a/b/c is the object <prefix>a/b/c: plain objects any S3 tool
// reads and writes. Directories are implicit (any key under a/b/) and
// explicit: mkdir writes a zero-byte marker a/b/ so that empty directories
// persist, and a directory whose last entry is removed gets a marker for
// the same reason. mode, uid, gid and mtime are user metadata in
// s3fs-fuse's format (x-amz-meta-mode as the decimal st_mode with the type
// bits, -uid, -gid, -mtime in epoch seconds; rclone's float mtime is read
// too; mtime-nsec keeps sub-second precision). Objects without metadata
// show the mount's default owner and modes and their LastModified. A
// symlink is an object whose body is the target and whose mode has
// S_IFLNK. Keys that cannot be a path (empty, "." or ".." components,
// names over 255 bytes, NUL bytes) are hidden, logged once and never
// followed; every key the filesystem makes is <prefix> + validated names,
// so nothing reaches outside the prefix.
//
// # Structure
//
// One fsys per mount holds the store, the options and the set of files
// with uncommitted changes. The tree is go-fuse's inode tree of three node
// types: dirNode, fileNode and linkNode. A node's key is derived from its
// place in the tree at the time of use, so a rename moves it for free.
//
// Metadata: every dirNode caches its listing (one delimited LIST, all
// pages), which answers readdir, READDIRPLUS and lookups, positive and
// negative, until it is older than MetadataTTL; concurrent callers share
// one LIST, and this mount's own changes are applied to the cache (and
// replayed onto a listing fetched meanwhile). A lookup without a fresh
// listing costs a HEAD of the file key and a LIST of one key under the
// directory prefix, in parallel. The kernel caches entries, attributes and
// negative entries for the same TTL. A LIST carries no metadata, so
// listed objects show defaults until their metadata is known; because a
// symlink would otherwise look like a small file, listed objects of 1 to
// 4095 bytes whose metadata is unknown are HEADed (in parallel) while the
// listing is built. Larger or empty objects never cost a HEAD in `ls -l`;
// metadata learnt once (HEAD, our own writes) is kept while the object's
// ETag and LastModified are unchanged.
//
// Reads: a clean file is read by byte ranges from the store, never
// downloaded first. Each open file has a rangeReader pinned to the ETag
// it started with: random reads fetch exactly the bytes asked for, straight
// into the kernel's buffer; a sequential run (two reads in a row, or one
// at offset 0) opens a read-ahead window that starts at 1 MiB and doubles
// up to ReadAheadMax, fetched as several chunks in parallel into buffers
// from the memory budget (taken with TryGet: under pressure read-ahead
// shrinks, it never waits). If the object is replaced elsewhere while
// open, reads fail with EIO rather than mixing versions; a new open sees
// the new version. The kernel page cache is kept across opens while the
// stored version is unchanged.
//
// Writes: a file being modified has local content (staged): a sparse,
// unlinked file in CacheDir holding the bytes written here and the
// ranges of the stored object fetched so far (in 256 KiB blocks, only
// where a read needs them). A new file starts empty; writing into,
// truncating or appending to an existing file fetches nothing up front.
// close(2) (FLUSH) and fsync commit: the missing ranges of the old object
// are fetched, then the whole content is uploaded (one PUT up to PartSize,
// else a multipart upload with UploadConcurrency parts in flight, buffers
// from the memory budget). close and fsync return only after the store
// has the data; a failed upload is their error (EIO, or ENOSPC when the
// store is full) and is logged, and the changes stay local to be retried
// by the next close or fsync, or at the last release. An object becomes
// visible whole when its upload completes: readers never see part of a
// write, and of two writers the last commit wins, whole.
//
// Coherence: all users of a mount share one tree, so a write is visible
// through any path at the next syscall. Changes made elsewhere (another
// host, another tool) are seen once the cached attributes and listings
// are older than MetadataTTL.
//
// # Limits
//
//   - Renaming a directory copies every key below it on the server side,
//     then deletes the sources: it is not atomic. Sources are deleted only
//     after all copies succeeded, so a failure leaves the old tree whole
//     (and removes the partial copy). A file or symlink rename is a copy and
//     a delete.
//   - Hard links fail with EPERM; mknod of fifos, sockets and devices fails
//     with EPERM (regular files are created); O_TMPFILE fails with
//     EOPNOTSUPP; extended attributes cannot be set (ENOTSUP); fallocate
//     only grows files (EOPNOTSUPP for hole punching and other modes).
//   - atime is not stored. Setting attributes of a clean file rewrites its
//     metadata with a server-side copy onto itself.
//   - Committing a file modified in place uploads the whole object (a store
//     has no partial overwrite): appending one byte to a 1 GiB file costs a
//     1 GiB download (of the ranges not already local) and upload.
//   - Listed objects over 4 KiB or empty show default mode and owner until
//     they are looked up by name with no fresh listing, or opened.
//   - A file unlinked while open stays readable only for the bytes held
//     locally; reads that need the deleted object fail with EIO.
//   - Staging files are bounded by disk space in CacheDir, not by the memory
//     budget.
package s3fs
