package main

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/dashboard"
	"github.com/s3vol/s3vol/observe"
)

// serveObserve starts the metrics and health listener when S3VOL_HTTP_ADDR
// is set, and returns what stops it (a no-op when it is off).
func (d *daemon) serveObserve() (shutdown func(context.Context) error, err error) {
	if d.cfg.HTTPAddr == "" {
		return func(context.Context) error { return nil }, nil
	}
	token, err := d.cfg.dashboardToken()
	if err != nil {
		return nil, err
	}
	if token == "" && !loopbackAddr(d.cfg.HTTPAddr) {
		return nil, fmt.Errorf("S3VOL_HTTP_ADDR (--http-addr) %q is not a loopback address, and no dashboard token is set: "+
			"anyone who reaches it could use the dashboard; set S3VOL_HTTP_TOKEN (or S3VOL_HTTP_TOKEN_FILE), or listen on 127.0.0.1", d.cfg.HTTPAddr)
	}
	d.metrics.Watch(d.gauges)
	health := observe.NewHealth(d.healthChecks()...)
	board := dashboard.New(dashboard.Config{Volumes: d.drv, Token: token, Host: d.hostID, Logger: d.log})
	shutdown, addr, err := observe.Serve(d.cfg.HTTPAddr, observe.Handler(d.metrics, health, board), d.log)
	if err != nil {
		return nil, fmt.Errorf("S3VOL_HTTP_ADDR (--http-addr): %w", err)
	}
	log := d.log.WithFields(logrus.Fields{"addr": addr.String(), "dashboardReadOnly": token == ""})
	log.Infof("serving the dashboard on http://%s/, metrics on /metrics and health on /healthz", addr)
	if tcp, ok := addr.(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		log.Warn("the HTTP listener is not on loopback: anyone who reaches it sees the volume names; keep it behind a firewall")
	}
	return shutdown, nil
}

// loopbackAddr reports whether host:port listens on loopback only: a
// loopback IP or "localhost" (an empty host is every interface).
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// gauges reads the daemon's state for a scrape, from memory only.
func (d *daemon) gauges() observe.Gauges {
	st := d.drv.Stats()
	inUse, _ := d.pool.InUse()
	stagedFiles, stagedBytes := observe.StagedOnDisk(d.cfg.CacheDir)
	return observe.Gauges{
		MemoryInUse:  inUse,
		MemoryBudget: d.pool.Budget(),
		Mounts:       st.Mounts,
		Org:          observe.OrgUsage{Name: d.cfg.Org, Used: st.Org.Used, Limit: st.Org.Limit, Known: st.Loaded},
		StagedFiles:  stagedFiles,
		StagedBytes:  stagedBytes,
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
