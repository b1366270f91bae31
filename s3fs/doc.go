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
// the same reason. mode, uid, gid, mtime and ctime are user metadata in
// s3fs-fuse's format, and atime once set explicitly (times.go); package
// layout builds every key and encodes and decodes the metadata (its doc
// has the format). Objects without metadata show the mount's default
// owner and modes and their LastModified. A symlink is an object whose
// body is the target and whose mode has S_IFLNK. Fifos, unix sockets and
// device nodes are zero-byte objects whose mode has their type (and -rdev
// a device's number); the mount is nodev, so a device node never opens as
// a device (special.go). Keys that cannot be a path (empty, "." or ".." components,
// names over 255 bytes, NUL bytes) are hidden, logged once and never
// followed; every key the filesystem makes is <prefix> + validated names,
// so nothing reaches outside the prefix.
//
// # Structure
//
// One fsys per mount holds the store, the options and the set of files
// with uncommitted changes. The tree is go-fuse's inode tree of three node
// types: dirNode, fileNode, linkNode and specialNode. A node's key is derived from its
// place in the tree at the time of use, so a rename moves it for free.
//
// A file's data lives in package s3fs/content, which imports no go-fuse
// package and is tested without a mount: reading a stored object by
// ranges with read-ahead (content.RangeReader), streaming a new file to
// the store (content.Streamer), staging a file modified in place and
// storing it again, whole or as a patch (content.Staged). It works with a
// content.Env (the store, the memory budget, part size, concurrency,
// cache folder, logger and timeouts) that the fsys fills in from the
// Options. fileNode holds the content, decides when it is started,
// staged, committed and dropped, keeps its attributes and locks, and maps
// the errors to errnos (errno.go).
//
// Metadata: every dirNode caches its listing (one delimited LIST, all
// pages), which answers readdir, READDIRPLUS and lookups, positive and
// negative, until it is older than MetadataTTL (counted from when the
// LIST started, or from when it ended for a listing that took more than
// half the TTL); concurrent callers share one LIST, and this mount's own
// changes are applied to the cache (and replayed onto a listing fetched
// meanwhile). A listing in use shortly before it expires (four times its
// last LIST's duration before, at half the TTL at the earliest) is refetched
// in the background (up to ten pages), so a directory in constant use (a
// tar extract, files created one after another) answers every lookup from
// a listing younger than the TTL and a create costs only its PUT; a
// directory made by mkdir starts with an empty listing. READDIRPLUS
// lookups are answered from the listing being read, so `ls -l` costs no
// request per entry. A lookup without a fresh listing costs a HEAD of the
// file key and a LIST of one key under the directory prefix, in parallel;
// once such lookups have cost as many requests as relisting the (small)
// directory would, a new listing is fetched in the background, and while
// one is being fetched, lookups wait for it instead. The kernel caches
// entries, attributes and negative entries for the same TTL.
//
// Listings ask for user metadata (store.ListOptions.WithMetadata): the
// local store and MinIO return it with the LIST pages, so there a cold
// `ls -l` costs LIST pages and no HEAD, and a remote chmod is seen at the
// next listing. A plain S3 LIST (AWS) carries none, and without it a
// symlink shows as a file and modes, owners and preserved mtimes are lost
// (rsync -a, make and cp -a would see every file as changed after a
// remount). So there a listing reads the metadata it lacks with HEADs, in
// parallel (StoreConcurrency), once: metadata learnt from a HEAD or from
// our own writes is kept while the object's ETag and size are unchanged,
// so a warm listing (TTL expired, nothing changed) costs LIST pages only.
// A cold `ls -l` of N objects written elsewhere on AWS therefore costs
// LIST pages plus N HEADs. The FastListing option trusts the LIST instead
// (zero HEADs; files show defaults, except objects of 1 to 4095 bytes,
// which could be symlinks and are still read). Subdirectories' own
// attributes live on their marker objects, which a delimited LIST rolls
// up: they cost a HEAD each on a cold listing (not with FastListing). A
// directory looked up by name gets them from the one-key LIST that proves
// it exists, where listings carry metadata.
//
// Reads: a clean file is read by byte ranges from the store, never
// downloaded first. Each open file has a RangeReader pinned to the ETag
// it started with: random reads fetch exactly the bytes asked for, straight
// into the kernel's buffer; a sequential run (near reads in a row that
// cover 512 KiB, or one at offset 0) opens a read-ahead window that starts at 2 MiB and doubles
// up to ReadAheadMax, fetched as chunks (a quarter of the window, up to
// ReadChunkMax) by parallel ranged GETs into buffers from the memory
// budget, taken with TryGet: under pressure read-ahead shrinks, it never
// waits. Replies are written to the kernel straight from the chunk
// buffers. The kernel's own read-ahead is raised to KernelReadAhead so
// requests arrive as 1 MiB reads (where /sys is read-only, as in a managed
// Docker plugin, through a sysfs mounted for the write). If the object is replaced elsewhere while
// open, reads fail with EIO rather than mixing versions; a new open sees
// the new version, and this mount's own commits and renames move open
// readers along. The kernel page cache is kept across opens while the
// stored version is unchanged.
//
// Writes: a file being modified has local content, of two kinds. A new or
// truncated file written from its start is a Streamer: its first part
// stays in memory (a buffer from the budget that grows from 64 KiB, so a
// small file costs one PUT at close and can still be read back), and once
// it outgrows PartSize a multipart upload starts and parts go up in the
// background while the writer writes (store.Writer, UploadConcurrency
// parts in flight; a part that finds the memory budget spent waits only
// for the file's own parts in flight, then is filled in a file in
// CacheDir instead: memory held by other open, idle files never stalls a
// write or a close); the first part is also kept in a local file, where
// it can be read back and overwritten (a header filled in at the end),
// and is sent again at close if it was overwritten. Anything
// else (writes into, appends to or truncates of an existing file, or
// random access past a streamed file's first part) goes to a staging
// file: a sparse, unlinked file in CacheDir holding the bytes written
// here and the ranges of the stored object fetched so far (in 256 KiB
// blocks, only where a read needs them); nothing is fetched up front. A
// streamer still in memory moves to a staging file for random access (or
// when the memory budget is spent: it spills rather than waits).
//
// close(2) (FLUSH) and fsync commit: a staging file bigger than a part is
// stored as a patch (content/patch.go): a multipart upload that copies the blocks
// not changed here from the old object inside the store and sends only
// the changed ones, after fetching their missing ranges; a smaller one
// fetches what it lacks and is stored whole. A streamer completes its
// upload. close and fsync return only after the store has the data; a
// failed upload is their error (EIO, or ENOSPC when the store is full)
// and is logged. A staging file keeps its changes to be retried
// by the next close or fsync and at unmount; a failed streaming upload
// fails the writes that follow (EIO) and its content is lost, as its parts
// cannot be read back. An object becomes visible whole when its upload
// completes: readers never see part of a write, and of two writers the
// last commit wins, whole.
//
// Coherence: all users of a mount share one tree, so a write is visible
// through any path at the next syscall. Changes made elsewhere (another
// host, another tool) are seen once the cached attributes and listings
// are older than MetadataTTL.
//
// A store that hangs does not hang the mount: every store call goes
// through boundedStore (bounded.go), which ends a call that makes no
// progress (no answer, no byte moved, no key listed) for OpTimeout, so the
// system call waiting for it fails with EIO; transfers that keep moving
// data are not cut short.
//
// # Limits
//
//   - Renaming a directory copies every key below it on the server side,
//     then deletes the sources: it is not atomic. Sources are deleted only
//     after all copies succeeded, so a failure leaves the old tree whole
//     (and removes the partial copy, or, when deleting the sources failed,
//     the copies whose source remains). Writes to files below it wait until
//     it is done. A file or symlink rename is a copy and a delete (a file's
//     changes not yet stored are stored under the old name first, unless
//     it was never stored). A failed unlink leaves the file as it was, its
//     changes still to be stored. A rename whose copy failed leaves both
//     names as they were; one whose delete of the source failed deletes
//     its copy again when nothing was at the new name, but a file it
//     replaced there cannot be brought back (both names then hold the
//     moved content, and a warning is logged).
//   - Hard links fail with EPERM; O_TMPFILE fails with EOPNOTSUPP;
//     extended attributes cannot be set (ENOTSUP); fallocate only grows
//     files (EOPNOTSUPP for hole punching and other modes). A size over
//     S3's largest object (5 TiB) fails with EFBIG; a path whose key is
//     over 1,024 bytes, and on MinIO a directory name of 247 to 255 bytes,
//     with ENAMETOOLONG.
//   - atime is stored only when set explicitly; reads do not advance it. A
//     directory's mtime and ctime advance with its entries on this mount
//     only (they are not stored), and its link count counts the
//     subdirectories of its last listing. Setting attributes of a clean
//     file rewrites its metadata with a server-side copy onto itself.
//   - A store has no partial overwrite: committing a file modified in place
//     writes a new object. Its unchanged blocks (PartSize each) are copied
//     inside the store, but the copy still takes the store's time: appending
//     one byte to a 1 GiB file sends one block at most and copies 1 GiB on
//     the server side (about 2 s on a local MinIO), at each close or fsync
//     that follows a change. A base object replaced elsewhere meanwhile makes
//     the copy fail; the commit then needs every byte locally, else fails.
//   - Random access (a read, an overwrite, a truncate) past the first part
//     of a new file that is streaming past it commits what was written so
//     far, then continues in a staging file: that intermediate state is
//     visible to other readers before close.
//   - A file streamed past one part keeps the upload's start as its mtime
//     (a chmod, chown or explicit utimes during the write is applied with a
//     copy onto itself at close).
//   - On stores whose listings carry no metadata (AWS S3), a cold listing
//     costs one HEAD per entry whose metadata is unknown (see above),
//     unless FastListing is set, and a remote change of metadata alone
//     (chmod elsewhere) keeps the ETag and is seen on the next HEAD of the
//     object, not through a listing.
//   - A file unlinked while open stays readable only for the bytes held
//     locally; reads that need the deleted object fail with EIO.
//   - Staging files are bounded by disk space in CacheDir, not by the memory
//     budget.
package s3fs
