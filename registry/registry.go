package registry

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/layout"
	"github.com/s3vol/s3vol/store"
)

// Config configures a Registry.
type Config struct {
	// Meta is the metadata store (bucket) holding the registry.
	Meta store.Store
	// Data is the data store (bucket) holding the volumes' files. It may
	// be the same store as Meta when Prefix keeps them apart.
	Data store.Store
	// Prefix is prepended to every registry key in Meta, e.g. "s3vol/".
	Prefix string
	// Org is the organization this registry works on ("default" if empty).
	Org string
	// HostID names this host in leases and records; required.
	HostID string
	// Instance names this process among the host's processes that mount
	// (the daemon, each `s3vol mount`): each holds lease objects of its
	// own. A process restarted with the same Instance takes over the
	// leases its killed predecessor left. Default: a random one.
	Instance string
	// LeaseTTL is how long a lease lives without a heartbeat (default 60 s).
	LeaseTTL time.Duration
	// RepairGrace is how old a half-done create or delete must be before
	// Repair rolls it back or finishes it, so that Repair run on one host
	// does not undo work another host is doing right now (default 5 min).
	// Zero means the default; a negative value means no grace at all.
	RepairGrace time.Duration
	// CallTimeout bounds every single store call (default 30 s).
	CallTimeout time.Duration
	// Logger receives the registry's logs (default: logrus's standard).
	Logger *logrus.Entry
	// OnHeartbeat, when set, is told of every lease renewal by the
	// heartbeat: err is its failure, nil when it succeeded (metrics).
	OnHeartbeat func(err error)
	// OnConflict, when set, is told of every compare-and-swap of the
	// index that lost to another writer (and is retried): metrics.
	OnConflict func()
}

// Defaults.
const (
	DefaultOrg         = "default"
	DefaultLeaseTTL    = 60 * time.Second
	DefaultRepairGrace = 5 * time.Minute
	DefaultCallTimeout = 30 * time.Second
)

// Registry is the registry of one organization. It is safe for concurrent
// use; several Registries (on several hosts) may share one store.
type Registry struct {
	cfg Config
	log *logrus.Entry
	mu  sync.Mutex // serializes this instance's index updates
	// instance tells this Registry's leases from those of other processes
	// with the same host id (see leaseKey).
	instance string

	leaseMu sync.Mutex
	leases  map[string]*hostLease // by entry id

	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup // heartbeats and purges
	purgeWG  sync.WaitGroup // purges only
	purgeMu  sync.Mutex
	purging  map[string]trashRecord // by trash id: the background purges running

	hook       func(step string) bool // tests: true simulates a crash at step
	now        func() time.Time
	purgeBatch int // keys per DeleteMany
}

// New checks cfg and returns a Registry. It does no I/O: the daemon must
// listen on its socket before the store is reached.
func New(cfg Config) (*Registry, error) {
	if cfg.Meta == nil || cfg.Data == nil {
		return nil, errors.New("registry: Config.Meta and Config.Data are required")
	}
	if cfg.Org == "" {
		cfg.Org = DefaultOrg
	}
	if err := ValidateOrg(cfg.Org); err != nil {
		return nil, err
	}
	if err := ValidateHostID(cfg.HostID); err != nil {
		return nil, err
	}
	if cfg.Instance == "" {
		cfg.Instance = strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	} else if why, ok := tokenProblem(cfg.Instance, MaxHostIDLen); !ok {
		return nil, errorf(ErrInvalid, "invalid registry instance %q: %san instance is %s", cfg.Instance, why, nameRule)
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	switch {
	case cfg.RepairGrace == 0:
		cfg.RepairGrace = DefaultRepairGrace
	case cfg.RepairGrace < 0:
		cfg.RepairGrace = 0
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	log := cfg.Logger
	if log == nil {
		log = logrus.NewEntry(logrus.StandardLogger())
	}
	r := &Registry{
		cfg:     cfg,
		log:     log.WithFields(logrus.Fields{"org": cfg.Org, "host": cfg.HostID}),
		leases:  map[string]*hostLease{},
		purging: map[string]trashRecord{},
		now:     time.Now,

		instance: cfg.Instance,

		purgeBatch: defaultPurgeBatch,
	}
	r.bgCtx, r.bgCancel = context.WithCancel(context.Background())
	return r, nil
}

// OrgName returns the organization's name.
func (r *Registry) OrgName() string { return r.cfg.Org }

// HostID returns this registry's host id.
func (r *Registry) HostID() string { return r.cfg.HostID }

// InstanceID tells this Registry's leases (LeaseInfo.Instance) from those
// of other processes with the same host id.
func (r *Registry) InstanceID() string { return r.instance }

// LeaseTTL returns the lease TTL in use.
func (r *Registry) LeaseTTL() time.Duration { return r.cfg.LeaseTTL }

// Close stops the registry's background work: lease heartbeats stop (the
// leases are left to expire, as if the host had died: release them first
// for a clean shutdown) and background purges are cancelled (Repair resumes
// them). It waits for the goroutines to end.
func (r *Registry) Close() error {
	r.bgCancel() // heartbeats and purges run under bgCtx
	r.bg.Wait()
	return nil
}

// callCtx bounds one store call.
func (r *Registry) callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.cfg.CallTimeout)
}

// step runs the test hook at a named step of a multi-step operation.
func (r *Registry) step(name string) error {
	if r.hook != nil && r.hook(name) {
		return &crashError{step: name}
	}
	return nil
}

// Get returns the volume or view with that name (or, failing that, id).
func (r *Registry) Get(ctx context.Context, nameOrID string) (Entry, error) {
	ix, _, err := r.load(ctx)
	if err != nil {
		return Entry{}, err
	}
	name, rec := ix.lookup(nameOrID)
	if rec == nil {
		return Entry{}, r.notFound(nameOrID)
	}
	return r.entry(ix, name, rec), nil
}

// List returns every volume and view, sorted by name. It costs one store
// request whatever the number of entries.
func (r *Registry) List(ctx context.Context) ([]Entry, error) {
	ix, _, err := r.load(ctx)
	if err != nil {
		return nil, err
	}
	return r.entries(ix), nil
}

// ListAndOrg is List and Org from one read of the index (the driver's
// cache refresh wants both, every few seconds).
func (r *Registry) ListAndOrg(ctx context.Context) ([]Entry, OrgInfo, error) {
	ix, _, err := r.load(ctx)
	if err != nil {
		return nil, OrgInfo{}, err
	}
	return r.entries(ix), r.orgInfo(ix), nil
}

// entries returns the index's entries, sorted by name.
func (r *Registry) entries(ix *index) []Entry {
	out := make([]Entry, 0, len(ix.Entries))
	for name, rec := range ix.Entries {
		out = append(out, r.entry(ix, name, rec))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Org describes the organization: its limit and how much of it is used.
func (r *Registry) Org(ctx context.Context) (OrgInfo, error) {
	ix, _, err := r.load(ctx)
	if err != nil {
		return OrgInfo{}, err
	}
	return r.orgInfo(ix), nil
}

// SetLimit changes the organization's volume limit for every host. A limit
// below the current use is accepted: existing volumes stay, new ones are
// refused until enough are deleted.
func (r *Registry) SetLimit(ctx context.Context, limit int) (OrgInfo, error) {
	if limit < 0 || limit > MaxLimit {
		return OrgInfo{}, errorf(ErrInvalid, "invalid limit %d: a limit is a number of volumes from 0 to %d", limit, MaxLimit)
	}
	ix, err := r.update(ctx, "set-limit", func(ix *index) error {
		if ix.Limit != nil && *ix.Limit == limit {
			return errNoChange
		}
		ix.Limit = &limit
		return nil
	})
	if err != nil {
		return OrgInfo{}, err
	}
	r.log.WithField("limit", limit).Info("registry: organization limit set")
	return r.orgInfo(ix), nil
}

func (r *Registry) orgInfo(ix *index) OrgInfo {
	info := OrgInfo{Name: r.cfg.Org, Limit: ix.limit(), LimitSet: ix.Limit != nil, Used: ix.used(), Purging: len(ix.Trash)}
	info.Views = len(ix.Entries) - info.Used
	return info
}

// entry turns a record into the Entry callers see, resolving views.
func (r *Registry) entry(ix *index, name string, rec *record) Entry {
	e := Entry{
		Org: r.cfg.Org, Name: name, ID: rec.ID, Kind: rec.Kind, State: rec.State, Reason: rec.Reason,
		CreatedAt: rec.CreatedAt, StateSince: rec.StateSince, CreatedBy: rec.CreatedBy,
		Labels: cloneLabels(rec.Labels), Options: rec.Options,
	}
	if rec.Kind == KindVolume {
		e.DataPrefix = r.dataPrefix(rec.ID)
		return e
	}
	e.VolumeID, e.Subpath = rec.VolumeID, rec.Subpath
	e.DataPrefix = layout.SubfolderPrefix(r.dataPrefix(rec.VolumeID), rec.Subpath)
	if vname, vol := ix.byID(rec.VolumeID); vol != nil {
		e.Volume, e.volumeReadOnly = vname, vol.Options.ReadOnly
	}
	return e
}

// dataPrefix is where a volume's files live in the data store.
func (r *Registry) dataPrefix(id string) string { return layout.VolumePrefix(r.cfg.Org, id) }

func (r *Registry) notFound(nameOrID string) error {
	return errorf(ErrNotFound, "no such volume: %q does not exist in organization %q", nameOrID, r.cfg.Org)
}

func (r *Registry) String() string {
	return fmt.Sprintf("registry %s (org %s, metadata %s)", r.cfg.Prefix, r.cfg.Org, r.cfg.Meta)
}
