package observe

import (
	"os"
	"regexp"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/s3vol/s3vol/internal/bufpool"
)

// Every s3vol metric the Grafana dashboard (docs/grafana-dashboard.json)
// queries is one the daemon exports: a renamed metric cannot leave the
// dashboard silently empty.
func TestGrafanaDashboardQueriesExportedMetrics(t *testing.T) {
	m := New()
	m.Watch(func() Gauges {
		return Gauges{Mounts: map[string]int{"v": 1}, Org: OrgUsage{Name: "o", Known: true}}
	})
	// Series of the labelled metrics appear with their first use.
	m.fuse.ops.WithLabelValues("read", "v").Inc()
	m.fuse.errors.WithLabelValues("read", "v").Inc()
	m.fuse.duration.WithLabelValues("read", "v").Observe(0)
	m.fuse.read.WithLabelValues("v").Inc()
	m.fuse.written.WithLabelValues("v").Inc()
	m.s3Requests.WithLabelValues(opGet, "ok").Inc()
	m.s3Duration.WithLabelValues(opGet).Observe(0)
	m.VolumeStore("v")(nil) // its byte series
	m.volumeS3.requests.WithLabelValues("v", opGet, "ok").Inc()
	m.VolumeBuffers("v")(bufpool.New(1)) // its memory series
	fams, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range fams {
		exported[f.GetName()] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			exported[f.GetName()+"_bucket"] = true
		}
	}

	data, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`\b(s3vol_[a-z0-9_]+|process_[a-z0-9_]+)`).FindAllString(string(data), -1)
	if len(used) < 10 {
		t.Fatalf("the dashboard queries only %d metrics", len(used))
	}
	for _, name := range used {
		if !exported[name] {
			t.Errorf("the Grafana dashboard queries %s, which the daemon does not export", name)
		}
	}
}
