// Package layout owns how s3vol lays volumes out in the data store: the
// keys of volumes, views, files and directory markers, and the object
// metadata that carries a file's attributes. The registry, the driver,
// `s3vol mount` and the filesystem (s3fs) all build keys and metadata
// through it, so a change of format is made here once.
//
// The shape, for organization "acme" and a volume with id 1b2c…:
//
//	acme/1b2c…/             the volume's root marker (RootMetadata: which
//	                        volume owns the prefix, the root's attributes)
//	acme/1b2c…/a/b.txt      a file or symlink (FileKey)
//	acme/1b2c…/a/           a directory marker (DirKey), content type
//	                        DirContentType
//	acme/1b2c…/users/alice/ a view's prefix: the volume's prefix and the
//	                        view's subpath (SubfolderPrefix)
//
// Attributes are user metadata in s3fs-fuse's format, so that s3fs-fuse
// and rclone users see the same ones: "mode" is the decimal st_mode with
// the file type bits, "uid" and "gid" decimal, "mtime" epoch seconds
// (rclone writes a float; both are read). "mtime-nsec" keeps the
// sub-second part, which s3fs-fuse cannot parse inside "mtime"; "ctime"
// (and "ctime-nsec") likewise, and "atime" once set explicitly. Fifos,
// sockets and device nodes are zero-byte objects whose "mode" has their
// type bits, a device's number in "rdev" (decimal). The store sends each
// name as an x-amz-meta-* header.
package layout
