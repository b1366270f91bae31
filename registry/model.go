package registry

import (
	"maps"
	"time"

	"github.com/s3vol/s3vol/layout"
)

// Kind tells a volume from a subpath view.
type Kind string

// The kinds of entry.
const (
	KindVolume Kind = "volume"
	KindView   Kind = "view"
)

// State is an entry's life-cycle state.
type State string

// The states. Volumes count toward the limit in every state: from the moment
// their name is reserved until their entry is removed.
const (
	// StateCreating: the name and a limit slot are reserved, the data root
	// is not confirmed yet. Repair rolls back creates that stay here.
	StateCreating State = "creating"
	// StateReady: usable.
	StateReady State = "ready"
	// StateDeleting: a delete is checking leases; no new mounts or views.
	// Repair finishes (or undoes) deletes that stay here.
	StateDeleting State = "deleting"
	// StateError: creating failed; Reason says why. The entry stays visible
	// so the user sees the reason; deleting it or creating it again (same
	// options) resolves it.
	StateError State = "error"
)

// Options are the settings a volume or view is created with. They are
// compared by Create's idempotence check and never change afterwards.
type Options struct {
	ReadOnly bool   `json:"readOnly,omitempty"`
	UID      uint32 `json:"uid"`
	GID      uint32 `json:"gid"`
	// Mode is the permission of the root folder and the default for
	// folders without stored metadata (0755 unless set).
	Mode uint32 `json:"mode"`
}

// RootAttrs are the stored attributes of the root folder of an entry with
// these options (a volume's root marker, a view's folder): their owner and
// mode, and mtime.
func (o Options) RootAttrs(mtime time.Time) layout.Attrs {
	mode := o.Mode
	if mode == 0 {
		mode = DefaultMode
	}
	return layout.Attrs{Kind: layout.Dir, Perm: mode, UID: o.UID, GID: o.GID, Mtime: mtime}
}

// DefaultMode is the Mode of a volume created without one.
const DefaultMode = 0o755

// Spec asks for an entry: a volume, or a view when Volume is set.
type Spec struct {
	Name    string
	Options Options
	Labels  map[string]string
	// Volume and Subpath make the entry a view of that volume's subpath.
	Volume  string
	Subpath string
}

// IsView reports whether the spec asks for a subpath view.
func (s Spec) IsView() bool { return s.Volume != "" }

// Entry is a volume or view as the registry's callers see it.
type Entry struct {
	Org        string
	Name       string
	ID         string
	Kind       Kind
	State      State
	Reason     string // why the state is error
	CreatedAt  time.Time
	StateSince time.Time
	CreatedBy  string // the host id that created it
	Labels     map[string]string
	Options    Options
	// DataPrefix is where the entry's files live in the data store: a
	// volume's "<org>/<id>/", or for a view the volume's prefix plus
	// the subpath and "/".
	DataPrefix string
	// For views: the volume pointed at, and the subpath inside it.
	Volume   string
	VolumeID string
	Subpath  string
	// volumeReadOnly is the target volume's read-only option, for views.
	volumeReadOnly bool
}

// ReadOnly reports whether mounts of the entry must be read-only: a view of
// a read-only volume is read-only too.
func (e Entry) ReadOnly() bool { return e.Options.ReadOnly || e.volumeReadOnly }

// OrgInfo describes an organization.
type OrgInfo struct {
	Name     string `json:"name"`
	Limit    int    `json:"limit"`
	LimitSet bool   `json:"limitSet"` // false: the default applies
	Used     int    `json:"used"`     // volumes, every state
	Views    int    `json:"views"`
	Purging  int    `json:"purging"` // deleted volumes whose data is still being removed
}

// DefaultLimit is an organization's volume limit until an admin sets one.
const DefaultLimit = 100

// MaxLimit is the largest limit SetLimit accepts (the index holds every
// entry in one object).
const MaxLimit = 100000

func cloneLabels(l map[string]string) map[string]string {
	if len(l) == 0 {
		return nil
	}
	return maps.Clone(l)
}
