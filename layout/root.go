package layout

// The user-metadata names of a volume's root marker that say which volume
// owns the prefix (beside the root's attributes).
const (
	metaVolumeID = "s3vol-volume"
	metaName     = "s3vol-name"
	metaOrg      = "s3vol-org"
)

// Owner names the volume a prefix belongs to.
type Owner struct {
	Org, Name, VolumeID string
}

// RootMetadata is the metadata of a volume's root marker: its owner and
// the root directory's attributes (a.Kind is taken as Dir).
func RootMetadata(o Owner, a Attrs) map[string]string {
	a.Kind = Dir
	m := a.Metadata()
	m[metaVolumeID], m[metaName], m[metaOrg] = o.VolumeID, o.Name, o.Org
	return m
}

// RootOwner reads the owner from a root marker's metadata; false when it
// names no volume.
func RootOwner(meta map[string]string) (Owner, bool) {
	o := Owner{Org: meta[metaOrg], Name: meta[metaName], VolumeID: meta[metaVolumeID]}
	return o, o.VolumeID != ""
}
