package driver

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/docker/go-plugins-helpers/volume"
	"github.com/dustin/go-humanize"

	"github.com/s3vol/s3vol/registry"
)

// describe turns an entry into Docker's Volume. Status (shown by docker
// volume inspect) is filled only for Get: List ignores it.
func (d *Driver) describe(e registry.Entry, status bool) *volume.Volume {
	v := &volume.Volume{
		Name:       e.Name,
		Mountpoint: d.mountpoint(e.Name),
		CreatedAt:  e.CreatedAt.UTC().Format(time.RFC3339),
	}
	if status {
		v.Status = d.status(e)
	}
	return v
}

func (d *Driver) status(e registry.Entry) map[string]any {
	org := d.cache.orgInfo()
	s := map[string]any{
		"id":        e.ID,
		"kind":      string(e.Kind),
		"state":     string(e.State),
		"org":       e.Org,
		"usage":     fmt.Sprintf("%d/%d volumes", org.Used, org.Limit),
		"readOnly":  e.ReadOnly(),
		"uid":       e.Options.UID,
		"gid":       e.Options.GID,
		"mode":      fmt.Sprintf("%04o", e.Options.Mode),
		"mountedOn": d.mountedOn(e),
	}
	if e.Reason != "" {
		s["reason"] = e.Reason
	}
	if u, ok := d.usage(e.ID); ok && u.Measured() {
		s["size"] = FormatUsage(u)
		s["sizeBytes"] = u.Bytes
		s["objects"] = u.Objects
		s["sizeMeasuredAt"] = u.MeasuredAt.UTC().Format(time.RFC3339)
	} else {
		s["size"] = FormatUsage(u)
	}
	if e.CreatedBy != "" {
		s["createdBy"] = e.CreatedBy
	}
	if len(e.Labels) > 0 {
		s["labels"] = e.Labels
	}
	if e.Kind == registry.KindView {
		s["volume"] = e.Volume
		s["subpath"] = e.Subpath
	}
	return s
}

// mountedOn lists the hosts that have the entry mounted, with their mount
// counts: this host from its own table (always current), the others from
// the last lease scan.
func (d *Driver) mountedOn(e registry.Entry) string {
	self, instance := d.reg.HostID(), d.reg.InstanceID()
	counts := map[string]int{}
	now := time.Now()
	for _, l := range d.cache.leasesOf(e.ID) {
		// This process's own lease is counted from its table below; other
		// processes of this host (s3vol mount) hold leases of their own.
		if l.Live(now) && !(l.Host == self && (l.Instance == instance || l.Instance == "")) {
			counts[l.Host] += max(l.Count, 1)
		}
	}
	if n := d.localUses(e.Name); n > 0 || d.mountpoint(e.Name) != "" {
		counts[self] += n
	}
	if len(counts) == 0 {
		return "none"
	}
	hosts := make([]string, 0, len(counts))
	for h, n := range counts {
		hosts = append(hosts, fmt.Sprintf("%s (%d)", h, n))
	}
	sort.Strings(hosts)
	return strings.Join(hosts, ", ")
}

// usage is the entry's last measured usage, from Config.Usage.
func (d *Driver) usage(id string) (registry.Usage, bool) {
	if d.cfg.Usage == nil {
		return registry.Usage{}, false
	}
	return d.cfg.Usage(id)
}

// FormatUsage says how much data an entry holds, and when that was
// measured: "1.5 MiB in 3 objects (measured 2026-12-06T20:15:00Z)".
func FormatUsage(u registry.Usage) string {
	if !u.Measured() {
		if u.Scan != nil {
			return fmt.Sprintf("being measured (%s in %d objects so far)", humanize.IBytes(uint64(u.Scan.Bytes)), u.Scan.Objects)
		}
		return "not measured yet"
	}
	return fmt.Sprintf("%s in %d objects (measured %s)", humanize.IBytes(uint64(u.Bytes)), u.Objects, u.MeasuredAt.UTC().Format(time.RFC3339))
}
