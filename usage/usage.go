// Package usage measures how much data each volume and view holds: a
// background scan lists the keys under the entry's data prefix, page by
// page at a bounded rate, and sums their sizes.
//
// Nothing waits on a scan: Get answers from memory, and one goroutine does
// all the listing, one page at a time and never faster than PagesPerSecond,
// so a mount or a Docker call meets at most one extra LIST in flight. The
// result and the scan in progress are recorded through the registry (see
// registry.Usage), so the admin command and other hosts see the last
// measurement, and a scan cut short resumes from its last checkpoint.
package usage

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/registry"
	"github.com/s3vol/s3vol/store"
)

// Config configures a Scanner.
type Config struct {
	// Registry reads and saves the usage records.
	Registry *registry.Registry
	// Data is the store the entries' data prefixes are in.
	Data store.Store
	// Entries lists the volumes and views to measure; it is called often
	// and must answer from memory (the driver's cache).
	Entries func() []registry.Entry
	// Interval is the age past which a measurement is taken again
	// (default 15 minutes).
	Interval time.Duration
	// PageSize is the keys asked for by one LIST (default 1000).
	PageSize int
	// PagesPerSecond bounds the scanner's requests (default 5: 5,000 keys
	// a second).
	PagesPerSecond float64
	// CheckpointEvery is how often a scan in progress is recorded (default
	// 10 s).
	CheckpointEvery time.Duration
	// Idle is how long the scanner waits when nothing needs measuring, or
	// after a failure (default 5 s).
	Idle   time.Duration
	Logger logrus.FieldLogger
}

func (c Config) withDefaults() Config {
	if c.Interval <= 0 {
		c.Interval = 15 * time.Minute
	}
	if c.PageSize <= 0 {
		c.PageSize = 1000
	}
	if c.PagesPerSecond <= 0 {
		c.PagesPerSecond = 5
	}
	if c.CheckpointEvery <= 0 {
		c.CheckpointEvery = 10 * time.Second
	}
	if c.Idle <= 0 {
		c.Idle = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = logrus.StandardLogger()
	}
	return c
}

// retryAfter is how long an entry whose scan failed is left alone.
const retryAfter = time.Minute

// Scanner measures entries in the background (Run) and answers what it
// knows (Get).
type Scanner struct {
	cfg Config

	mu sync.Mutex
	// known holds each entry's usage by id: the record read from the
	// registry, then updated as scans go.
	known map[string]registry.Usage
	// loaded marks the ids whose record has been read (found or not).
	loaded map[string]bool
	// failedAt holds when an entry's last scan (or record read) failed.
	failedAt map[string]time.Time
	// stale holds when each id was asked to be measured again before
	// Interval (Remeasure); a scan that started after that clears it.
	stale map[string]time.Time

	lastPage time.Time // when the last request was made, for the pace
}

// New returns a scanner; start it with Run.
func New(cfg Config) (*Scanner, error) {
	if cfg.Registry == nil || cfg.Data == nil || cfg.Entries == nil {
		return nil, fmt.Errorf("usage: Config.Registry, Config.Data and Config.Entries are required")
	}
	return &Scanner{cfg: cfg.withDefaults(), known: map[string]registry.Usage{},
		loaded: map[string]bool{}, failedAt: map[string]time.Time{}, stale: map[string]time.Time{}}, nil
}

// Get returns what is known of the usage of the entry with that id: the
// last measurement, and the scan in progress if any. ok is false when
// nothing is known yet. It never waits on the store.
func (s *Scanner) Get(id string) (u registry.Usage, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok = s.known[id]
	if u.Scan != nil {
		sc := *u.Scan
		u.Scan = &sc
	}
	return u, ok
}

// Remeasure asks for the entry with that id to be measured again soon,
// ahead of Interval: its data changed (a mount of it ended). The last
// measurement stays shown until the new one is done.
func (s *Scanner) Remeasure(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stale[id] = time.Now()
}

// Run measures entries until ctx ends: the one with a scan to resume
// first, then those never measured, then the oldest measurement past
// Interval.
func (s *Scanner) Run(ctx context.Context) {
	for ctx.Err() == nil {
		e, ok := s.next(ctx)
		if !ok {
			sleep(ctx, s.cfg.Idle)
			continue
		}
		if err := s.scan(ctx, e); err != nil && ctx.Err() == nil {
			s.cfg.Logger.WithError(err).WithField("volume", e.Name).Warn("measuring a volume's usage failed; retrying later")
			s.mu.Lock()
			s.failedAt[e.ID] = time.Now()
			s.mu.Unlock()
		}
	}
}

// next picks the entry to scan, reading the usage records of entries seen
// for the first time. ok is false when none needs a scan now.
func (s *Scanner) next(ctx context.Context) (best registry.Entry, ok bool) {
	now := time.Now()
	bestRank := 0
	var bestAt time.Time
	for _, e := range s.cfg.Entries() {
		if e.State != registry.StateReady || e.DataPrefix == "" {
			continue
		}
		s.mu.Lock()
		loaded, failed := s.loaded[e.ID], s.failedAt[e.ID]
		s.mu.Unlock()
		if !failed.IsZero() && now.Sub(failed) < retryAfter {
			continue
		}
		if !loaded && !s.load(ctx, e) {
			continue
		}
		u, _ := s.Get(e.ID)
		rank, at := 0, u.MeasuredAt
		switch {
		case u.Scan != nil:
			rank, at = 3, u.Scan.StartedAt
		case !u.Measured():
			rank = 2
		case now.Sub(u.MeasuredAt) >= s.cfg.Interval || s.isStale(e.ID):
			rank = 1
		}
		if rank > bestRank || rank == bestRank && rank > 0 && at.Before(bestAt) {
			best, bestRank, bestAt = e, rank, at
		}
	}
	return best, bestRank > 0
}

// load reads the entry's usage record, at the scanner's pace.
func (s *Scanner) load(ctx context.Context, e registry.Entry) bool {
	s.pace(ctx)
	u, found, err := s.cfg.Registry.Usage(ctx, e.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.cfg.Logger.WithError(err).WithField("volume", e.Name).Debug("reading a volume's usage record")
		s.failedAt[e.ID] = time.Now()
		return false
	}
	s.loaded[e.ID] = true
	if found {
		s.known[e.ID] = u
	}
	return true
}

// scan lists the entry's keys from where its last scan stopped, one page
// at a time, checkpointing as it goes, and records the total.
func (s *Scanner) scan(ctx context.Context, e registry.Entry) error {
	u, _ := s.Get(e.ID) // a copy: sc below is this scan's own
	sc := u.Scan
	if sc == nil {
		sc = &registry.UsageScan{StartedAt: time.Now()}
	}
	log := s.cfg.Logger.WithField("volume", e.Name)
	lastSave := time.Now()
	for {
		s.pace(ctx)
		n, err := s.page(ctx, e.DataPrefix, sc)
		if err != nil {
			return fmt.Errorf("listing %s under %q: %w", s.cfg.Data, e.DataPrefix, err)
		}
		if n < s.cfg.PageSize {
			break
		}
		progress := *sc
		u.Scan = &progress
		s.set(e.ID, u)
		if time.Since(lastSave) >= s.cfg.CheckpointEvery {
			if err := s.cfg.Registry.SaveUsage(ctx, e.ID, u); err != nil {
				log.WithError(err).Debug("checkpointing a usage scan")
			}
			lastSave = time.Now()
		}
		if !s.stillListed(e.ID) {
			return nil // removed meanwhile
		}
	}
	u = registry.Usage{Bytes: sc.Bytes, Objects: sc.Objects, MeasuredAt: time.Now()}
	log.WithFields(logrus.Fields{"bytes": u.Bytes, "objects": u.Objects, "took": time.Since(sc.StartedAt).Round(time.Millisecond).String()}).Debug("measured a volume's usage")
	// Recorded first, then shown: what Get shows is in the store too,
	// unless recording it failed.
	err := s.cfg.Registry.SaveUsage(ctx, e.ID, u)
	s.measured(e.ID, u, sc.StartedAt)
	if err != nil {
		return fmt.Errorf("recording the measurement: %w", err)
	}
	return nil
}

// pageTimeout bounds one LIST request.
const pageTimeout = time.Minute

// page lists one page of keys under prefix after sc.After and adds them to
// sc: every file and folder object except the entry's root folder. It
// returns how many keys the page held.
func (s *Scanner) page(ctx context.Context, prefix string, sc *registry.UsageScan) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, pageTimeout)
	defer cancel()
	n := 0
	opts := store.ListOptions{Prefix: prefix, StartAfter: sc.After, PageSize: s.cfg.PageSize}
	for obj, err := range s.cfg.Data.List(ctx, opts) {
		if err != nil {
			return n, err
		}
		sc.After = obj.Key
		if obj.Key != prefix { // the entry's root folder is not counted
			sc.Bytes += obj.Size
			sc.Objects++
		}
		if n++; n == s.cfg.PageSize {
			break // the next page is the next call's, after the pause
		}
	}
	return n, nil
}

// pace waits until a request is allowed by PagesPerSecond.
func (s *Scanner) pace(ctx context.Context) {
	gap := time.Duration(float64(time.Second) / s.cfg.PagesPerSecond)
	if wait := time.Until(s.lastPage.Add(gap)); wait > 0 {
		sleep(ctx, wait)
	}
	s.lastPage = time.Now()
}

func (s *Scanner) set(id string, u registry.Usage) {
	s.mu.Lock()
	s.known[id] = u
	delete(s.failedAt, id)
	s.mu.Unlock()
}

// measured records a finished scan that started at startedAt: it answers a
// Remeasure made before that, not one made while it ran.
func (s *Scanner) measured(id string, u registry.Usage, startedAt time.Time) {
	s.set(id, u)
	s.mu.Lock()
	if at, ok := s.stale[id]; ok && at.Before(startedAt) {
		delete(s.stale, id)
	}
	s.mu.Unlock()
}

func (s *Scanner) isStale(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.stale[id]
	return ok
}

func (s *Scanner) stillListed(id string) bool {
	for _, e := range s.cfg.Entries() {
		if e.ID == id {
			return true
		}
	}
	return false
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
