package main

import (
	"context"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/layout"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/journal"
)

// How the multipart uploads a process leaves behind are cleaned up (issue
// 13.12). Every process that mounts journals the uploads it starts in the
// state folder (see store/journal); the uploads of a process of this host
// that died are aborted at the next start of the daemon or of a mount, and
// by a running daemon within uploadRecoverInterval. Uploads no journal
// knows of (another host's, or lost with the host's own crash) are aborted
// once older than staleUploadAge: at the daemon's start and then every
// staleSweepInterval.
const (
	uploadRecoverInterval = time.Minute
	staleSweepInterval    = time.Hour
	staleUploadAge        = 24 * time.Hour
	uploadSweepTimeout    = time.Minute
)

// uploadJournalDir is the folder of the host's upload journals.
func (c *Config) uploadJournalDir() string { return filepath.Join(c.StateDir, "uploads") }

// openUploadJournal wraps the data store so that the uploads of this
// process are journaled.
func openUploadJournal(c *Config, data store.Store, log logrus.FieldLogger) (*journal.Store, error) {
	return journal.Open(c.uploadJournalDir(), c.storeName(c.Bucket), data, log)
}

// recoverUploads aborts the uploads of this host's processes that died.
func recoverUploads(ctx context.Context, c *Config, data store.Store, log logrus.FieldLogger) {
	ctx, cancel := context.WithTimeout(ctx, uploadSweepTimeout)
	defer cancel()
	n, err := journal.Recover(ctx, c.uploadJournalDir(), c.storeName(c.Bucket), data, log)
	switch {
	case err != nil && ctx.Err() == nil:
		log.WithError(err).Warn("aborting the uploads of processes that died; retrying later")
	case n > 0:
		log.WithField("aborted", n).Info("aborted the unfinished uploads of processes of this host that died")
	}
}

// sweepUploads cleans up lost uploads until ctx ends: the journals of dead
// processes at once and every uploadRecoverInterval, and every upload of
// the organization older than staleUploadAge every staleSweepInterval (the
// driver does that sweep at start-up).
func (d *daemon) sweepUploads(ctx context.Context) {
	recoverUploads(ctx, d.cfg, d.data, d.log)
	recoverTick := time.NewTicker(uploadRecoverInterval)
	defer recoverTick.Stop()
	staleTick := time.NewTicker(staleSweepInterval)
	defer staleTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-recoverTick.C:
			recoverUploads(ctx, d.cfg, d.data, d.log)
		case <-staleTick.C:
			d.abortStaleUploads(ctx)
		}
	}
}

func (d *daemon) abortStaleUploads(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, uploadSweepTimeout)
	defer cancel()
	n, err := d.data.AbortStaleUploads(ctx, layout.OrgPrefix(d.reg.OrgName()), staleUploadAge)
	switch {
	case err != nil && ctx.Err() == nil:
		d.log.WithError(err).Warn("aborting stale multipart uploads")
	case n > 0:
		d.log.WithField("aborted", n).Info("aborted stale multipart uploads")
	}
}
