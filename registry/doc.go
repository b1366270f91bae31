// Package registry keeps every fact about s3vol's volumes in the metadata
// store, so that every host running s3vol against the same store sees the
// same volumes and the rules hold when several hosts act at the same instant.
// A host keeps nothing of its own that matters.
//
// # Model
//
// An organization (set by the plugin's configuration) owns a namespace of
// entries: volumes and subpath views. A volume has a name, an immutable UUID
// id, a state (creating, ready, deleting, error), a creation time, labels and
// options; its data lives in the data store under "<org>/<id>/", a prefix
// derived from the id and never from the name, so a deleted name can be
// reused at once while the old data is still being removed. A view is a name
// that points at a volume and a subpath inside it; views share the
// namespace with volumes but do not count toward the organization's volume
// limit (default 100, stored with the organization so every host enforces
// the same number).
//
// # Layout in the metadata store (under Config.Prefix)
//
//	orgs/<org>/index.json            the organization: limit, entries, trash
//	orgs/<org>/leases/<id>/<host>@<instance>  one process's lease on a mounted entry
//
// The index object holds the whole organization, so List, Get and the limit
// check cost one GET, and every change is a compare-and-swap of that one
// object (Put with IfMatch, or IfNoneMatch when it does not exist yet): the
// limit and name uniqueness hold across hosts without any read-then-write.
// Leases are separate objects, one per (entry, process): two processes of
// one host (the daemon and `s3vol mount`) share the host id, and one
// releasing must not drop the other's hold. A process restarted under the
// same instance name (the daemon; `s3vol mount` on the same folder) takes
// over the lease objects its killed predecessor left. Heartbeats never contend with
// creates and deletes.
//
// # Multi-step operations and repair
//
// Create reserves the name and a limit slot (state creating), writes the
// volume's root marker in the data store, then marks it ready. Delete marks
// the entry deleting (which stops new mounts and new views), checks the
// leases, then removes the entry and records its data prefix in the index's
// trash in one CAS; the data is then removed in the background with batch
// deletes. A create whose volume is deleted while its root marker is being
// written finds the entry gone when it tries to mark it ready, and removes
// the marker itself: the purge may have finished before the marker landed. A crash between any two steps leaves a state Repair can see in the
// index: stale creates are rolled back, stale deletes finished (or undone if
// a host holds a lease) and the trash purged, so nothing counts toward the
// limit forever.
//
// # Leases
//
// A host that mounts an entry writes its lease object and then re-reads the
// index; a delete marks the entry deleting and then lists the leases. Either
// the mount sees the deleting mark and backs off, or the delete sees the
// lease and refuses: the two can never both succeed. Liveness is judged by
// the expiry the holder wrote (its clock plus the TTL), so hosts' clocks are
// assumed to agree within a small fraction of the TTL (NTP).
//
// A process whose lease cannot be renewed is fenced: from its last renewal
// plus the TTL minus a sixth of it, its mounts' writes (through
// Lease.Guard) fail until a renewal succeeds, so it has stopped writing
// before another host can see the lease expired and delete the volume. The
// purge of a delete that found expired leases starts no sooner than a TTL
// plus that margin after the delete (see fence.go).
package registry
