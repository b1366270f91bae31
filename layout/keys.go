package layout

import "strings"

// OrgPrefix is the prefix under which every volume of org lives.
func OrgPrefix(org string) string { return org + "/" }

// VolumePrefix is where the files of the volume with that id live; the
// volume's root marker has this very key.
func VolumePrefix(org, volumeID string) string { return OrgPrefix(org) + volumeID + "/" }

// VolumeIDOf returns the id in a volume prefix of org as VolumePrefix
// builds it ("acme/1b2c…/" → "1b2c…"), and false for any other key.
func VolumeIDOf(org, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(prefix, OrgPrefix(org))
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, "/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", false
	}
	return id, true
}

// SubfolderPrefix is the prefix of the folder subpath ("users/alice")
// inside prefix: a view's prefix, or a mount of one folder of a volume.
// An empty subpath is prefix itself.
func SubfolderPrefix(prefix, subpath string) string {
	if subpath == "" {
		return prefix
	}
	return prefix + subpath + "/"
}

// FileKey is the key of the file or symlink at path rel ("a/b.txt") of the
// tree at prefix.
func FileKey(prefix, rel string) string { return prefix + rel }

// DirKey is the key of the marker of directory rel of the tree at prefix,
// which is also the prefix of its entries; the root ("") is prefix itself.
func DirKey(prefix, rel string) string { return SubfolderPrefix(prefix, rel) }

// DirContentType is the content type of directory markers written outside
// the filesystem (volume roots, view folders), as S3 consoles write them.
const DirContentType = "application/x-directory"
