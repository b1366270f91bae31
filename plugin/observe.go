package main

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/s3vol/s3vol/observe"
)

// serveObserve starts the metrics and health listener when S3VOL_HTTP_ADDR
// is set, and returns what stops it (a no-op when it is off).
func (d *daemon) serveObserve() (shutdown func(context.Context) error, err error) {
	if d.cfg.HTTPAddr == "" {
		return func(context.Context) error { return nil }, nil
	}
	d.metrics.Watch(d.gauges)
	health := observe.NewHealth(d.healthChecks()...)
	shutdown, addr, err := observe.Serve(d.cfg.HTTPAddr, observe.Handler(d.metrics, health), d.log)
	if err != nil {
		return nil, fmt.Errorf("S3VOL_HTTP_ADDR (--http-addr): %w", err)
	}
	log := d.log.WithField("addr", addr.String())
	log.Infof("serving metrics and health on http://%s/metrics and /healthz", addr)
	if tcp, ok := addr.(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		log.Warn("the metrics and health listener is not on loopback: anyone who reaches it sees the volume names; keep it behind a firewall")
	}
	return shutdown, nil
}

// gauges reads the daemon's state for a scrape, from memory only.
func (d *daemon) gauges() observe.Gauges {
	st := d.drv.Stats()
	inUse, _ := d.pool.InUse()
	return observe.Gauges{
		MemoryInUse:  inUse,
		MemoryBudget: d.pool.Budget(),
		Mounts:       st.Mounts,
		Org:          observe.OrgUsage{Name: d.cfg.Org, Used: st.Org.Used, Limit: st.Org.Limit, Known: st.Loaded},
	}
}

// healthChecks are what /healthz asks: every store answers, and the
// registry has been read from the store since the daemon started.
func (d *daemon) healthChecks() []observe.Check {
	checks := []observe.Check{observe.StoreCheck("store", d.data)}
	if d.meta != d.data {
		checks = append(checks, observe.StoreCheck("metadata store", d.meta))
	}
	return append(checks, observe.Check{Name: "registry", Probe: d.registryLoaded})
}

func (d *daemon) registryLoaded(context.Context) error {
	st := d.drv.Stats()
	switch {
	case st.Loaded:
		return nil
	case st.LoadErr != nil:
		return fmt.Errorf("the volume registry has not been read from the store yet: %w", st.LoadErr)
	default:
		return errors.New("the volume registry is still being read from the store")
	}
}
