package observe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
	"github.com/s3vol/s3vol/store/localstore"
)

// serve starts the listener on a free loopback port and returns its base
// URL; it is shut down with the test.
func serve(t *testing.T, m *Metrics, h *Health) string {
	t.Helper()
	shutdown, addr, err := Serve("127.0.0.1:0", Handler(m, h, nil), logrus.New())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return "http://" + addr.String()
}

var client = &http.Client{Timeout: 30 * time.Second}

func scrape(t *testing.T, base string) Samples {
	t.Helper()
	s, err := Scrape(context.Background(), client, base+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func value(t *testing.T, s Samples, name string, labels ...string) float64 {
	t.Helper()
	v, ok := s.Value(name, labels...)
	if !ok {
		t.Fatalf("no series %s%v in the scrape", name, labels)
	}
	return v
}

func newLocal(t *testing.T) store.Store {
	t.Helper()
	st, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// A known workload through the wrapped store shows in the scrape: each
// call by operation and outcome, its latency, the bytes both ways.
func TestStoreCallsAreCounted(t *testing.T) {
	m := New()
	faults := faultstore.New(newLocal(t))
	st := m.Store(faults)
	base := serve(t, m, NewHealth())
	ctx := context.Background()

	const puts, size = 7, 1000
	for i := range puts {
		if _, err := st.Put(ctx, fmt.Sprintf("vol/f%d", i), bytes.NewReader(make([]byte, size)), size, store.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	r, _, err := st.Get(ctx, "vol/f0", store.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := st.Stat(ctx, "vol/missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("stat of a missing key: %v", err)
	}
	listed := 0
	for _, err := range st.List(ctx, store.ListOptions{Prefix: "vol/"}) {
		if err != nil {
			t.Fatal(err)
		}
		listed++
	}
	faults.Add(faultstore.Rule{Op: faultstore.OpPut, Times: 1, Err: store.ErrUnavailable})
	if _, err := st.Put(ctx, "vol/failed", strings.NewReader("x"), 1, store.PutOptions{}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("put with a fault: %v", err)
	}
	mp, err := st.NewMultipart(ctx, "vol/big", store.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := mp.UploadPart(ctx, 1, bytes.NewReader(make([]byte, size)), size); err != nil {
		t.Fatal(err)
	}
	if _, err := mp.Complete(ctx); err != nil {
		t.Fatal(err)
	}
	if store.UploadID(mp) == "" {
		t.Error("the wrapped upload lost its id (store.IdentifiedUpload)")
	}

	s := scrape(t, base)
	for _, c := range []struct {
		op, outcome string
		want        float64
	}{
		{"put", "ok", puts}, {"put", "unavailable", 1}, {"get", "ok", 1}, {"stat", "not_found", 1},
		{"list", "ok", 1}, {"multipart_create", "ok", 1}, {"multipart_part", "ok", 1}, {"multipart_complete", "ok", 1},
	} {
		if got := value(t, s, "s3vol_s3_requests_total", "op", c.op, "outcome", c.outcome); got != c.want {
			t.Errorf("s3vol_s3_requests_total{op=%q,outcome=%q} = %v, want %v", c.op, c.outcome, got, c.want)
		}
	}
	if got := value(t, s, "s3vol_s3_request_duration_seconds", "op", "put"); got != puts+1 {
		t.Errorf("put latency observations = %v, want %d", got, puts+1)
	}
	if got, want := value(t, s, "s3vol_s3_sent_bytes_total"), float64(puts*size+size); got != want {
		t.Errorf("sent bytes = %v, want %v (failed puts count nothing)", got, want)
	}
	if got := value(t, s, "s3vol_s3_received_bytes_total"); got != size {
		t.Errorf("received bytes = %v, want %d", got, size)
	}
	if listed != puts {
		t.Errorf("the wrapped List yielded %d objects, want %d", listed, puts)
	}
}

// Calls through a volume's wrapper count under that volume (and, through
// the daemon's wrapper beneath, daemon-wide); another volume's series show
// none of them, and Forget drops a removed volume's series.
func TestVolumeStoreCountsUnderTheVolume(t *testing.T) {
	m := New()
	faults := faultstore.New(newLocal(t))
	data := m.Store(faults)
	hot, idle := m.VolumeStore("hot")(data), m.VolumeStore("idle")(data)
	base := serve(t, m, NewHealth())
	ctx := context.Background()

	const puts, size = 5, 300
	for i := range puts {
		if _, err := hot.Put(ctx, fmt.Sprintf("hot/f%d", i), bytes.NewReader(make([]byte, size)), size, store.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	r, _, err := hot.Get(ctx, "hot/f0", store.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatal(err)
	}
	r.Close()
	faults.Add(faultstore.Rule{Op: faultstore.OpPut, Times: 1, Err: store.ErrUnavailable})
	if _, err := hot.Put(ctx, "hot/failed", strings.NewReader("x"), 1, store.PutOptions{}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("put with a fault: %v", err)
	}
	if _, err := idle.Stat(ctx, "idle/missing"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("stat of a missing key: %v", err)
	}

	s := scrape(t, base)
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"volume", "hot", "op", "put", "outcome", "ok"}, puts},
		{[]string{"volume", "hot", "op", "put", "outcome", "unavailable"}, 1},
		{[]string{"volume", "hot", "op", "get", "outcome", "ok"}, 1},
		{[]string{"volume", "hot"}, puts + 2},
		{[]string{"volume", "idle", "op", "stat", "outcome", "not_found"}, 1},
		{[]string{"volume", "idle"}, 1},
	} {
		if got := value(t, s, "s3vol_volume_s3_requests_total", c.labels...); got != c.want {
			t.Errorf("s3vol_volume_s3_requests_total%v = %v, want %v", c.labels, got, c.want)
		}
	}
	for _, c := range []struct {
		volume, direction string
		want              float64
	}{{"hot", "sent", puts * size}, {"hot", "received", size}, {"idle", "sent", 0}, {"idle", "received", 0}} {
		if got := value(t, s, "s3vol_volume_s3_bytes_total", "volume", c.volume, "direction", c.direction); got != c.want {
			t.Errorf("s3vol_volume_s3_bytes_total{volume=%q,direction=%q} = %v, want %v", c.volume, c.direction, got, c.want)
		}
	}
	if got := value(t, s, "s3vol_s3_requests_total", "op", "put"); got != puts+1 {
		t.Errorf("daemon-wide puts = %v, want %d", got, puts+1)
	}

	m.Forget("hot")
	s = scrape(t, base)
	if _, ok := s.Value("s3vol_volume_s3_requests_total", "volume", "hot"); ok {
		t.Error("the forgotten volume still has object-store series")
	}
	if _, ok := s.Value("s3vol_volume_s3_bytes_total", "volume", "hot"); ok {
		t.Error("the forgotten volume still has byte series")
	}
	if _, ok := s.Value("s3vol_volume_s3_requests_total", "volume", "idle"); !ok {
		t.Error("forgetting hot dropped idle's series")
	}
}

// The gauges come from the snapshot the daemon gives, read at each scrape;
// volume names are the only free-form label.
func TestGaugesHeartbeatsConflicts(t *testing.T) {
	m := New()
	var uses atomic.Int64
	uses.Store(2)
	m.Watch(func() Gauges {
		return Gauges{MemoryInUse: 5 << 20, MemoryBudget: 256 << 20,
			Mounts: map[string]int{"web": int(uses.Load())},
			Org:    OrgUsage{Name: "acme", Used: 3, Limit: 10, Known: true}}
	})
	m.Heartbeat(nil)
	m.Heartbeat(nil)
	m.Heartbeat(errors.New("store down"))
	m.Conflict()
	base := serve(t, m, NewHealth())
	s := scrape(t, base)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"s3vol_memory_in_use_bytes", nil, 5 << 20},
		{"s3vol_memory_budget_bytes", nil, 256 << 20},
		{"s3vol_mounted", []string{"volume", "web"}, 1},
		{"s3vol_mount_uses", []string{"volume", "web"}, 2},
		{"s3vol_org_volumes", []string{"org", "acme"}, 3},
		{"s3vol_org_volume_limit", []string{"org", "acme"}, 10},
		{"s3vol_lease_heartbeats_total", []string{"outcome", "ok"}, 2},
		{"s3vol_lease_heartbeats_total", []string{"outcome", "failed"}, 1},
		{"s3vol_registry_conflicts_total", nil, 1},
	} {
		if got := value(t, s, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	uses.Store(1)
	if got := value(t, scrape(t, base), "s3vol_mount_uses", "volume", "web"); got != 1 {
		t.Errorf("mount uses after a container left = %v, want 1 (gauges are read at each scrape)", got)
	}
}

func getHealth(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := client.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// /healthz is 200 while the store answers, 503 with the reason while it
// fails, and 200 again once it is back; answers are cached for a second.
func TestHealthFollowsTheStore(t *testing.T) {
	faults := faultstore.New(newLocal(t))
	h := NewHealth(StoreCheck("store", faults))
	now := time.Now()
	var clock atomic.Int64 // nanoseconds after now
	h.now = func() time.Time { return now.Add(time.Duration(clock.Load())) }
	base := serve(t, New(), h)

	if code, body := getHealth(t, base); code != http.StatusOK || body != "ok\n" {
		t.Fatalf("healthy store: %d %q", code, body)
	}
	id := faults.Add(faultstore.Rule{Op: faultstore.OpStat, Err: store.ErrUnavailable})
	if code, _ := getHealth(t, base); code != http.StatusOK {
		t.Errorf("within the second, the cached answer: %d, want 200", code)
	}
	if calls := faults.Calls(faultstore.OpStat); calls != 1 {
		t.Errorf("%d probes for two requests within a second, want 1", calls)
	}
	clock.Add(int64(DefaultHealthCache))
	code, body := getHealth(t, base)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "store: ") || !strings.Contains(body, "unavailable") {
		t.Errorf("store down: %d %q; want 503 naming the store and why", code, body)
	}
	faults.Remove(id)
	clock.Add(int64(DefaultHealthCache))
	if code, body := getHealth(t, base); code != http.StatusOK {
		t.Errorf("store back: %d %q, want 200", code, body)
	}
}

// A store that never answers makes /healthz answer 503 after the timeout,
// even when the probe ignores its context; requests do not pile probes up.
func TestHealthNeverHangs(t *testing.T) {
	faults := faultstore.New(newLocal(t))
	faults.Add(faultstore.Rule{Op: faultstore.OpStat, Hang: true})
	stuck := make(chan struct{})
	defer close(stuck)
	var started atomic.Int64
	ignoresContext := Check{Name: "deaf", Probe: func(context.Context) error {
		started.Add(1)
		<-stuck
		return nil
	}}
	h := NewHealth(StoreCheck("store", faults), ignoresContext)
	h.timeout = 100 * time.Millisecond // the test's, not a timing assertion: only how long it waits
	base := serve(t, New(), h)

	code, body := getHealth(t, base)
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "store: ") || !strings.Contains(body, "deaf: no answer within") {
		t.Fatalf("hung probes: %d %q; want 503 naming both", code, body)
	}
	if n := started.Load(); n != 1 {
		t.Errorf("the deaf probe ran %d times for one request, want 1", n)
	}
}

// Uploads in flight: a multipart upload counts from its start until it is
// completed or aborted (once, even when a failed complete is aborted);
// retries reported by the backend are counted.
func TestUploadsInFlightAndRetries(t *testing.T) {
	m := New()
	faults := faultstore.New(newLocal(t))
	st := m.Store(faults)
	base := serve(t, m, NewHealth())
	ctx := context.Background()
	inFlight := func() float64 { return value(t, scrape(t, base), "s3vol_s3_uploads_in_flight") }

	a, err := st.NewMultipart(ctx, "vol/a", store.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := st.NewMultipart(ctx, "vol/b", store.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := inFlight(); got != 2 {
		t.Fatalf("uploads in flight with two open = %v, want 2", got)
	}
	if err := a.UploadPart(ctx, 1, strings.NewReader("x"), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Complete(ctx); err != nil {
		t.Fatal(err)
	}
	faults.Add(faultstore.Rule{Op: faultstore.OpComplete, Times: 1, Err: store.ErrUnavailable})
	if _, err := b.Complete(ctx); err == nil {
		t.Fatal("complete with a fault succeeded")
	}
	if got := inFlight(); got != 1 {
		t.Fatalf("uploads in flight after one completed and one failed to = %v, want 1", got)
	}
	b.Abort(ctx)
	b.Abort(ctx)
	if got := inFlight(); got != 0 {
		t.Fatalf("uploads in flight after completing and aborting both = %v, want 0", got)
	}
	m.Retry()
	m.Retry()
	if got := value(t, scrape(t, base), "s3vol_s3_retries_total"); got != 2 {
		t.Fatalf("retries = %v, want 2", got)
	}
}
