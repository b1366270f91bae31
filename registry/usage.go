package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/s3vol/s3vol/store"
)

// Usage is how much an entry's data takes in the store, as a scan of its
// data prefix last measured it (see package usage). It is kept in the
// metadata store beside the index, one small object per entry, so that
// every host and the admin command see the last measurement, and a scan
// cut short (the daemon stopped) resumes where it was.
type Usage struct {
	Bytes   int64 `json:"bytes"`
	Objects int64 `json:"objects"`
	// MeasuredAt is when the last complete scan ended; zero until one has.
	MeasuredAt time.Time `json:"measuredAt,omitzero"`
	// Scan is the scan in progress, nil when none is.
	Scan *UsageScan `json:"scan,omitempty"`
}

// Measured reports whether a complete scan has measured the entry.
func (u Usage) Measured() bool { return !u.MeasuredAt.IsZero() }

// UsageScan is a scan in progress: the sums of the keys up to After.
type UsageScan struct {
	After     string    `json:"after"`
	Bytes     int64     `json:"bytes"`
	Objects   int64     `json:"objects"`
	StartedAt time.Time `json:"startedAt"`
}

// maxUsageSize bounds what Usage reads: the record is a few hundred bytes.
const maxUsageSize = 64 << 10

func (r *Registry) usageKey(entryID string) string {
	return r.orgPrefix() + "usage/" + entryID + ".json"
}

// Usage returns the last usage recorded for the entry with id entryID; ok
// is false when none was.
func (r *Registry) Usage(ctx context.Context, entryID string) (u Usage, ok bool, err error) {
	ctx, cancel := r.callCtx(ctx)
	defer cancel()
	rc, _, err := r.cfg.Meta.Get(ctx, r.usageKey(entryID), store.GetOptions{})
	if store.IsNotFound(err) {
		return Usage{}, false, nil
	}
	if err != nil {
		return Usage{}, false, fmt.Errorf("registry: reading usage record %s in %s: %w", r.usageKey(entryID), r.cfg.Meta, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxUsageSize))
	if err != nil {
		return Usage{}, false, fmt.Errorf("registry: reading usage record %s in %s: %w", r.usageKey(entryID), r.cfg.Meta, err)
	}
	if err := json.Unmarshal(data, &u); err != nil {
		return Usage{}, false, fmt.Errorf("registry: usage record %s in %s is corrupt: %w", r.usageKey(entryID), r.cfg.Meta, err)
	}
	return u, true, nil
}

// SaveUsage records the entry's usage (the last measurement and the scan in
// progress). Two hosts scanning the same entry may overwrite each other's
// record: each is a valid measurement, so the last one written wins.
func (r *Registry) SaveUsage(ctx context.Context, entryID string, u Usage) error {
	data, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("registry: encoding a usage record: %w", err)
	}
	ctx, cancel := r.callCtx(ctx)
	defer cancel()
	_, err = r.cfg.Meta.Put(ctx, r.usageKey(entryID), bytes.NewReader(data), int64(len(data)), store.PutOptions{ContentType: "application/json"})
	if err != nil {
		return fmt.Errorf("registry: saving usage record %s in %s: %w", r.usageKey(entryID), r.cfg.Meta, err)
	}
	return nil
}

// dropUsage removes a purged entry's usage record.
func (r *Registry) dropUsage(ctx context.Context, entryID string) error {
	ctx, cancel := r.callCtx(ctx)
	defer cancel()
	if err := r.cfg.Meta.Delete(ctx, r.usageKey(entryID)); err != nil && !store.IsNotFound(err) {
		return err
	}
	return nil
}
