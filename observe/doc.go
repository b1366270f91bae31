// Package observe lets an operator see what the daemon does while it runs:
// Prometheus metrics and a health check, served on an HTTP listener of
// their own (S3VOL_HTTP_ADDR), apart from the plugin's unix socket.
//
//   - Metrics (New) holds a Prometheus registry of its own, never the
//     client library's global one, so tests and several daemons in one
//     process do not mix their counts. Store requests are counted by
//     wrapping each store (Metrics.Store), FUSE requests by wrapping each
//     mount's filesystem (Metrics.FUSE, for s3fs.Options.WrapFS); the
//     registry reports lease heartbeats and lost compare-and-swaps
//     (Metrics.Heartbeat, Metrics.Conflict), the S3 backend its retries
//     (Metrics.Retry); gauges (memory budget, staged files, mounts, the
//     organization's volumes) are read at scrape time from a Gauges
//     snapshot the daemon provides, so nothing is kept twice; each
//     volume's share of the memory budget is read at scrape time from the
//     budget's account its mounts draw from (Metrics.VolumeBuffers).
//   - Health (NewHealth) runs named checks with a timeout, caches the
//     answer for a second and never lets a hung probe hold a request.
//   - Serve starts the listener with timeouts on every phase of a request;
//     Handler routes /metrics, /healthz and everything else to the
//     dashboard (package dashboard).
//
// Labels stay bounded: store operations and outcomes are fixed lists, and
// the only free-form label is a volume's name (never a file name or key).
package observe
