package driver

import (
	"context"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/layout"
)

// startup cleans up after a previous run: FUSE mounts it left under the
// mount root (dead once their daemon died), multipart uploads it never
// finished, and half-done registry work. Docker asks again for the mounts
// it still needs, and they are made afresh.
func (d *Driver) startup(ctx context.Context) {
	d.detachStaleMounts()
	// The cache first: Docker's Get calls are waiting on it. The store may
	// be down (or not connected yet): keep trying.
	for backoff := 250 * time.Millisecond; ; backoff = min(2*backoff, d.cfg.RefreshInterval) {
		err := d.refreshOnce(ctx)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}

	uctx, cancel := context.WithTimeout(ctx, d.cfg.CallTimeout)
	n, err := d.cfg.Data.AbortStaleUploads(uctx, layout.OrgPrefix(d.reg.OrgName()), d.cfg.StaleUploadAge)
	cancel()
	switch {
	case err != nil && ctx.Err() == nil:
		d.log.WithError(err).Warn("aborting stale multipart uploads")
	case n > 0:
		d.log.WithField("aborted", n).Info("aborted stale multipart uploads")
	}
	d.repair(ctx)
	d.refreshLeases(ctx)
}

// detachStaleMounts detaches every FUSE mount under the mount root whose
// server is gone. A mount that still answers belongs to a live process
// (two daemons must not share a mount root) and is left alone.
func (d *Driver) detachStaleMounts() {
	mounts, err := mountsUnder(d.cfg.MountRoot)
	if err != nil {
		d.log.WithError(err).Warn("looking for stale mounts")
		return
	}
	for _, m := range mounts {
		if m.point == d.cfg.MountRoot || !strings.HasPrefix(m.fstype, "fuse") {
			continue
		}
		log := d.log.WithFields(logrus.Fields{"mountpoint": m.point, "fstype": m.fstype})
		if !isDead(m.point) {
			log.Warn("a live FUSE mount is under the mount root; is another s3vol using the same S3VOL_MOUNT_ROOT? leaving it")
			continue
		}
		if err := detach(m.point); err != nil {
			log.WithError(err).Warn("detaching a stale mount")
			continue
		}
		log.Info("detached a stale mount left by a previous run")
	}
}
