package observe

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/s3vol/s3vol/internal/bufpool"
)

// namespace prefixes every metric name.
const namespace = "s3vol"

// Metrics holds the daemon's metrics and the registry that exports them.
type Metrics struct {
	reg *prometheus.Registry

	s3Requests      *prometheus.CounterVec
	s3Duration      *prometheus.HistogramVec
	s3BytesSent     prometheus.Counter
	s3BytesReceived prometheus.Counter
	s3Retries       prometheus.Counter
	uploadsInFlight prometheus.Gauge
	heartbeats      *prometheus.CounterVec
	conflicts       prometheus.Counter
	fuse            fuseMetrics
	volumeS3        volumeS3Metrics
	memory          volumeMemory
}

// volumeS3Metrics are the object-store calls of the mounts, by volume.
type volumeS3Metrics struct {
	requests *prometheus.CounterVec
	bytes    *prometheus.CounterVec
}

// New returns metrics registered on a registry of their own, with the Go
// runtime's and the process's collectors beside them.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		s3Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "s3", Name: "requests_total",
			Help: "Object-store calls by operation and outcome (ok, not_found, precondition_failed, access_denied, unavailable, canceled, error). Retries inside the backend are not counted.",
		}, []string{"op", "outcome"}),
		s3Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Subsystem: "s3", Name: "request_duration_seconds",
			Help: "Latency of object-store calls by operation, retries included (a Get until its body is returned, a List until its last page).",
			// 1 ms to about 33 s: a local HEAD to a large part's upload.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"op"}),
		s3BytesSent: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "s3", Name: "sent_bytes_total",
			Help: "Bytes stored by successful puts and multipart parts.",
		}),
		s3BytesReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "s3", Name: "received_bytes_total",
			Help: "Bytes read from object bodies.",
		}),
		s3Retries: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "s3", Name: "retries_total",
			Help: "Object-store requests sent again after a failure (no answer, 5xx, throttling), and GET bodies resumed after being cut off.",
		}),
		uploadsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: "s3", Name: "uploads_in_flight",
			Help: "Uploads under way: puts being sent and multipart uploads started and not yet completed or aborted.",
		}),
		heartbeats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "lease", Name: "heartbeats_total",
			Help: "Mount lease renewals by outcome (ok, failed).",
		}, []string{"outcome"}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: "registry", Name: "conflicts_total",
			Help: "Compare-and-swaps of the volume registry's index that lost to another writer and were retried.",
		}),
		fuse:   newFUSEMetrics(),
		memory: volumeMemory{accounts: make(map[string]*bufpool.Pool)},
		volumeS3: volumeS3Metrics{
			requests: prometheus.NewCounterVec(prometheus.CounterOpts{
				Namespace: namespace, Subsystem: "volume_s3", Name: "requests_total",
				Help: "Object-store calls of a volume's (or view's) mounts by operation and outcome, as in s3vol_s3_requests_total; the registry's calls are no volume's.",
			}, []string{"volume", "op", "outcome"}),
			bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
				Namespace: namespace, Subsystem: "volume_s3", Name: "bytes_total",
				Help: "Bytes a volume's (or view's) mounts sent to the object store (successful puts and parts) and received from object bodies, by direction (sent, received).",
			}, []string{"volume", "direction"}),
		},
	}
	m.reg.MustRegister(m.fuse.collectors()...)
	m.reg.MustRegister(m.volumeS3.requests, m.volumeS3.bytes, &m.memory)
	m.reg.MustRegister(m.s3Requests, m.s3Duration, m.s3BytesSent, m.s3BytesReceived, m.s3Retries, m.uploadsInFlight, m.heartbeats, m.conflicts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Both outcomes are exported from the start, so a rate over failures
	// works before the first one.
	m.heartbeats.WithLabelValues("ok")
	m.heartbeats.WithLabelValues("failed")
	return m
}

// Heartbeat counts one lease renewal; err is its failure, nil when it
// succeeded. It suits registry.Config.OnHeartbeat.
func (m *Metrics) Heartbeat(err error) {
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	m.heartbeats.WithLabelValues(outcome).Inc()
}

// Retry counts one retry of an object-store request. It suits
// s3store.Config.OnRetry.
func (m *Metrics) Retry() { m.s3Retries.Inc() }

// Conflict counts one lost compare-and-swap of the registry's index. It
// suits registry.Config.OnConflict.
func (m *Metrics) Conflict() { m.conflicts.Inc() }

// scrapeTimeout bounds one scrape; the gauges are read from memory, so it
// is only a guard.
const scrapeTimeout = 10 * time.Second

// Handler serves the metrics in Prometheus's text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Timeout: scrapeTimeout, ErrorHandling: promhttp.ContinueOnError})
}
