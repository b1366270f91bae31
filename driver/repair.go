package driver

import (
	"context"

	"github.com/sirupsen/logrus"
)

// repair runs the registry's repair pass: half-done creates and deletes of
// crashed hosts are rolled back or finished, deleted volumes' data purged,
// dead leases removed.
func (d *Driver) repair(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*d.cfg.CallTimeout)
	defer cancel()
	rep, err := d.reg.Repair(ctx)
	if err != nil && ctx.Err() == nil {
		d.log.WithError(err).Warn("registry repair at start-up")
	}
	if !rep.Empty() {
		d.log.WithFields(logrus.Fields{
			"rolledBack": rep.RolledBack, "finished": rep.Finished, "restored": rep.Restored,
			"purged": rep.Purged, "deadLeases": rep.Leases, "failed": rep.Failed, "orphans": rep.Orphans,
		}).Info("registry repaired")
	}
}
