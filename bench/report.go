package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// report is the bench's result: one row per measured figure.
type report struct {
	When    time.Time         `json:"when"`
	Quick   bool              `json:"quick"`
	Machine map[string]string `json:"machine"`
	Budget  int64             `json:"memory_budget_bytes"`
	// GoMemLimit is the Go runtime's soft memory limit the run had (0:
	// none), as the daemon should set it relative to the budget.
	GoMemLimit int64 `json:"go_memory_limit_bytes"`
	Rows       []row `json:"rows"`
}

// row compares one figure through the mount with the same figure on the raw
// store. Better says which way is better ("higher" for throughput, "lower"
// for latency), which decides how Ratio reads: Ratio is always
// s3vol / raw, and Target states the goal in the same terms.
type row struct {
	Workload string           `json:"workload"`
	Metric   string           `json:"metric"`
	Unit     string           `json:"unit"`
	S3vol    float64          `json:"s3vol"`
	Raw      float64          `json:"raw"`
	Ratio    float64          `json:"ratio"`
	Target   string           `json:"target"`
	Met      *bool            `json:"met,omitempty"`
	Requests map[string]int64 `json:"s3vol_requests,omitempty"`
	Note     string           `json:"note,omitempty"`
}

func newReport(quick bool, budget int64) *report {
	return &report{When: time.Now().UTC(), Quick: quick, Machine: machine(), Budget: budget}
}

func (r *report) add(x row) {
	if x.Raw != 0 {
		x.Ratio = x.S3vol / x.Raw
	}
	r.Rows = append(r.Rows, x)
}

func met(ok bool) *bool { return &ok }

// print writes the table: both figures, their ratio, the target, and the
// store requests the mount made.
func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\ns3vol bench, %s (%s)", r.When.Format(time.RFC3339), mode(r.Quick))
	fmt.Fprintf(w, " on %s cores, %s, %s, kernel %s, %s\n\n",
		r.Machine["cores"], r.Machine["cpu"], r.Machine["memory"], r.Machine["kernel"], r.Machine["go"])
	fmt.Fprintf(w, "memory budget %d MiB, Go memory limit %s\n\n", r.Budget>>20, memLimitName(r.GoMemLimit))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tmetric\ts3vol\traw\tratio\ttarget\tmet\ts3vol requests")
	for _, x := range r.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.Workload, x.Metric,
			num(x.S3vol, x.Unit), num(x.Raw, x.Unit), ratio(x), x.Target, verdict(x.Met), requests(x.Requests))
	}
	tw.Flush()
	for _, x := range r.Rows {
		if x.Note != "" {
			fmt.Fprintf(w, "  note: %s %s: %s\n", x.Workload, x.Metric, x.Note)
		}
	}
	fmt.Fprintln(w)
}

func mode(quick bool) string {
	if quick {
		return "quick mode: sizes too small to judge speed"
	}
	return "full run"
}

func num(v float64, unit string) string {
	switch {
	case v == 0:
		return "-"
	case v >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	case v >= 10:
		return fmt.Sprintf("%.1f %s", v, unit)
	}
	return fmt.Sprintf("%.2f %s", v, unit)
}

func ratio(x row) string {
	if x.Ratio == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", x.Ratio)
}

func verdict(m *bool) string {
	switch {
	case m == nil:
		return ""
	case *m:
		return "yes"
	}
	return "NO"
}

// requests lists the non-zero request counts, the busiest first.
func requests(c map[string]int64) string {
	type kv struct {
		k string
		v int64
	}
	var xs []kv
	for k, v := range c {
		if v != 0 && !strings.HasPrefix(k, "bytes_") {
			xs = append(xs, kv{k, v})
		}
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i].v > xs[j].v || xs[i].v == xs[j].v && xs[i].k < xs[j].k })
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%s=%d", x.k, x.v)
	}
	return strings.Join(parts, " ")
}

func memLimitName(n int64) string {
	if n <= 0 {
		return "none"
	}
	return fmt.Sprintf("%d MiB", n>>20)
}
