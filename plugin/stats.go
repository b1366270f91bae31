package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"golang.org/x/sys/unix"

	"github.com/s3vol/s3vol/observe"
)

const statsUsage = `s3vol stats: a live view of a running daemon's metrics, refreshed every second

Usage:
  s3vol stats [--addr HOST:PORT] [--interval 1s] [--count N]

It reads http://ADDR/metrics of the daemon (S3VOL_HTTP_ADDR; make run serves
127.0.0.1:9180) and shows, per volume, the reads and writes per second, the
throughput, the object-store requests and errors per second and the bytes
sent to and received from the store by its mounts, the memory its mounts
hold of the budget (MEM: read-ahead and upload buffers), and the containers
using it; and for the daemon, the object-store requests (the registry's
included), errors and retries per second, the bytes sent and received, the
uploads in flight, the memory budget in use and the staged bytes on disk.
`

// statsFlags are stats' options.
type statsFlags struct {
	addr     string
	interval time.Duration
	count    int // 0: until interrupted
}

func runStats(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("s3vol stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, statsUsage+"\nFlags:\n"); fs.PrintDefaults() }
	var o statsFlags
	defAddr := os.Getenv("S3VOL_HTTP_ADDR")
	if defAddr == "" {
		defAddr = "127.0.0.1:9180"
	}
	fs.StringVar(&o.addr, "addr", defAddr, "host:port of the daemon's HTTP listener (S3VOL_HTTP_ADDR)")
	fs.DurationVar(&o.interval, "interval", time.Second, "time between refreshes")
	fs.IntVar(&o.count, "count", 0, "refreshes to show before exiting (0 = until interrupted)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("s3vol stats takes no arguments, only flags (got %q)", strings.Join(fs.Args(), " "))}
	}
	if o.interval < 100*time.Millisecond {
		return usageError{fmt.Sprintf("--interval %s is too short; use 100ms or more, e.g. 1s", o.interval)}
	}
	return watchStats(ctx, o, stdout, isTerminal(stdout))
}

// watchStats scrapes the daemon every interval and prints the rates since
// the scrape before. On a terminal each view replaces the last.
func watchStats(ctx context.Context, o statsFlags, out io.Writer, terminal bool) error {
	url := "http://" + o.addr + "/metrics"
	client := &http.Client{Timeout: 5 * time.Second}
	prev, err := observe.Scrape(ctx, client, url)
	if err != nil {
		return fmt.Errorf("reading the daemon's metrics (is it running with S3VOL_HTTP_ADDR=%s? see --addr): %w", o.addr, err)
	}
	prevAt := time.Now()
	tick := time.NewTicker(o.interval)
	defer tick.Stop()
	for shown := 0; o.count == 0 || shown < o.count; shown++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		cur, err := observe.Scrape(ctx, client, url)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reading the daemon's metrics: %w", err)
		}
		now := time.Now()
		view := statsView(prev, cur, now.Sub(prevAt), o.addr, now)
		if terminal {
			fmt.Fprint(out, "\033[H\033[2J") // home and clear: the view replaces the last
		} else if shown > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprint(out, view)
		prev, prevAt = cur, now
	}
	return nil
}

// volumeRates are one volume's rates over an interval.
type volumeRates struct {
	name                    string
	reads, writes, ops, err float64 // per second
	readBytes, writeBytes   float64 // per second
	s3Requests, s3Errors    float64 // per second, of its mounts
	s3Sent, s3Received      float64 // bytes per second, of its mounts
	memory                  float64 // bytes of the budget its mounts hold now
	uses                    float64
}

// statsView renders the rates between two scrapes taken dt apart.
func statsView(prev, cur observe.Samples, dt time.Duration, addr string, at time.Time) string {
	secs := dt.Seconds()
	rate := func(name string, labels ...string) float64 {
		c, _ := cur.Value(name, labels...)
		p, _ := prev.Value(name, labels...)
		if c < p { // the daemon restarted, or the series was dropped
			return c / secs
		}
		return (c - p) / secs
	}
	gauge := func(name string, labels ...string) float64 { v, _ := cur.Value(name, labels...); return v }
	// failures is the rate of the object-store requests counted in name
	// (with labels) that failed: a missing key is an answer, not a failure.
	failures := func(name string, labels ...string) float64 {
		all := rate(name, labels...)
		ok := rate(name, slices.Concat(labels, []string{"outcome", "ok"})...) + rate(name, slices.Concat(labels, []string{"outcome", "not_found"})...)
		return max(all-ok, 0)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "s3vol stats  %s  %s  (per second over the last %s)\n\n", addr, at.Format("15:04:05"), dt.Round(10*time.Millisecond))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "VOLUME\tREADS/s\tREAD\tWRITES/s\tWRITTEN\tOPS/s\tERRORS/s\tS3 REQ/s\tS3 ERR/s\tS3 SENT\tS3 RECV\tMEM\tUSES\t")
	for _, v := range volumes(cur) {
		r := volumeRates{
			name:       v,
			reads:      rate("s3vol_fuse_ops_total", "op", "read", "volume", v),
			writes:     rate("s3vol_fuse_ops_total", "op", "write", "volume", v),
			ops:        rate("s3vol_fuse_ops_total", "volume", v),
			err:        rate("s3vol_fuse_errors_total", "volume", v),
			readBytes:  rate("s3vol_fuse_read_bytes_total", "volume", v),
			writeBytes: rate("s3vol_fuse_written_bytes_total", "volume", v),
			s3Requests: rate("s3vol_volume_s3_requests_total", "volume", v),
			s3Errors:   failures("s3vol_volume_s3_requests_total", "volume", v),
			s3Sent:     rate("s3vol_volume_s3_bytes_total", "volume", v, "direction", "sent"),
			s3Received: rate("s3vol_volume_s3_bytes_total", "volume", v, "direction", "received"),
			memory:     gauge("s3vol_volume_memory_bytes", "volume", v),
			uses:       gauge("s3vol_mount_uses", "volume", v),
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s/s\t%.0f\t%s/s\t%.0f\t%.0f\t%.0f\t%.0f\t%s/s\t%s/s\t%s\t%.0f\t\n", r.name, r.reads, ibytes(r.readBytes), r.writes, ibytes(r.writeBytes), r.ops, r.err,
			r.s3Requests, r.s3Errors, ibytes(r.s3Sent), ibytes(r.s3Received), ibytes(r.memory), r.uses)
	}
	tw.Flush()

	requests := rate("s3vol_s3_requests_total")
	memUsed, memBudget := gauge("s3vol_memory_in_use_bytes"), gauge("s3vol_memory_budget_bytes")
	fmt.Fprintf(&b, "\nobject store  %.0f requests/s  %.0f errors/s  %.0f retries/s  sent %s/s  received %s/s  %.0f uploads in flight\n",
		requests, failures("s3vol_s3_requests_total"), rate("s3vol_s3_retries_total"), ibytes(rate("s3vol_s3_sent_bytes_total")),
		ibytes(rate("s3vol_s3_received_bytes_total")), gauge("s3vol_s3_uploads_in_flight"))
	fmt.Fprintf(&b, "memory        %s of %s in use (%.0f%%)  staged on disk %s in %.0f files\n",
		ibytes(memUsed), ibytes(memBudget), 100*memUsed/max(memBudget, 1), ibytes(gauge("s3vol_staged_bytes")), gauge("s3vol_staged_files"))
	return b.String()
}

// volumes lists the volumes the scrape has series of, sorted.
func volumes(s observe.Samples) []string {
	seen := map[string]bool{}
	for _, name := range []string{"s3vol_fuse_ops_total", "s3vol_volume_s3_requests_total", "s3vol_volume_memory_bytes", "s3vol_mounted"} {
		fam := s[name]
		if fam == nil {
			continue
		}
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "volume" {
					seen[l.GetValue()] = true
				}
			}
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func ibytes(v float64) string { return humanize.IBytes(uint64(max(v, 0))) }

// isTerminal reports whether w is a terminal (then each view replaces the
// last; in a pipe or a file they follow each other).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
