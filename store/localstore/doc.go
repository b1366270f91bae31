// Package localstore is the local-folder backend of store.Store: the built-in
// default when no S3 endpoint is configured. It keeps S3's semantics (any key,
// atomic visibility, ETags, user metadata, conditional writes, multipart
// uploads) on a plain directory, and several processes may use the same
// directory at once (two plugin daemons, or a daemon and an admin command).
//
// # Layout
//
// Everything lives under the folder given to New:
//
//	FORMAT            "s3vol-localstore 1": refuses folders of another format
//	objects/          the key tree (see "Keys" below)
//	names/<sha256>    the real name of every over-long key component
//	tmp/              temp files of writes in progress (same filesystem)
//	uploads/<id>/     multipart uploads: "info" plus one file per part
//	locks/<nn>        256 lock files, flock(2)ed around conditional commits
//
// # Keys
//
// S3 keys are not paths: "a", "a/" and "a/b" may all exist at once, and keys
// may hold empty, "." or ".." components or components longer than a file
// name may be. So a key is split at "/" into components, and each component
// becomes one file name: every component but the last names a directory,
// suffixed ".d"; the last names the object file, suffixed ".o". The suffix
// keeps "a" (file a.o) apart from the directory of "a/b" (a.d/b.o), and makes
// "", "." and ".." harmless (".d", "..d", "...o"). Inside a component "%" is
// written "%%" and NUL "%0"; nothing else needs escaping on Linux. A
// component whose escaped form would exceed maxEncodedName bytes is named by
// the SHA-256 of its bytes instead, suffixed ".ld" or ".lo", and its real
// name is written once to names/<sha256> before the entry is created. Those
// name files are content-addressed, so they never change and are never
// removed (they are tiny and only exist for exotic keys).
//
// Every path is opened through an os.Root, which walks one component at a
// time with openat(2), so a 1024-byte key of empty components (a path three
// times longer) does not run into PATH_MAX.
//
// # Object files
//
// An object file holds the object's bytes followed by a trailer: a JSON
// header (key, ETag, modification time, user metadata, content type), its
// length as 4 big-endian bytes, and the 8-byte magic "s3volO1\n". Data and
// metadata therefore change together, in one rename. The ETag is the MD5 of
// the content for a Put, and S3's MD5-of-part-MD5s plus "-N" for a
// multipart upload; a Copy keeps the source's ETag (same content).
//
// # Writes
//
// A write streams into a file under tmp/, fsyncs it, then renames it over
// the object's path and fsyncs the directory: readers see the old object or
// the new one, never a mix, and a crash leaves at worst a temp file, which
// is never listed and is removed by New once it has been idle for an hour.
// Every commit (and every Delete) of a key holds an exclusive flock on
// locks/<hash(key) mod 256> around its check of the current ETag and its
// rename, so conditional writes are atomic across goroutines and processes.
//
// Deletes remove directories that became empty on the way up. A concurrent
// Put whose parent directory vanishes between its mkdir and its rename sees
// ENOENT and simply creates the directory again.
//
// # Listing
//
// List walks the tree in ascending byte order of the keys, not of the file
// names: each directory's entries are decoded and sorted by key (a directory
// sorts as its key prefix plus "/"), and a depth-first walk over sorted
// entries yields keys in S3 order. A delimited listing reads only the
// directory of the prefix and, for each subdirectory rolled up into a common
// prefix, just enough of it to know it holds an object. StartAfter skips
// whole subtrees that sort before it. With a delimiter, an entry (key or
// common prefix) is returned only if it sorts after StartAfter, so passing
// the last returned entry as StartAfter resumes a listing exactly.
package localstore
