package s3store

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/s3vol/s3vol/store"
)

// The retries minio-go makes on its own are reported to OnRetry: a proxy
// in front of MinIO answers the first two PUTs of one key with 503, the
// put succeeds on the third attempt, and OnRetry heard of two retries; a
// call that succeeds at once adds none.
func TestRetriesAreReported(t *testing.T) {
	srv := sharedSrv(t)
	cfg := testConfig(srv, srv.NewBucket(t))
	target, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int64
	forward := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/flaky") && refused.Add(1) <= 2 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>test: slow down</Message></Error>`))
			return
		}
		forward.ServeHTTP(w, r)
	}))
	defer proxy.Close()

	var retries atomic.Int64
	pcfg := cfg
	pcfg.Endpoint = proxy.URL
	pcfg.OnRetry = func() { retries.Add(1) }
	st := newStoreCfg(t, pcfg)

	if _, err := st.Put(ctxT(t), "flaky", bytes.NewReader([]byte("hello")), 5, store.PutOptions{}); err != nil {
		t.Fatalf("put through two refusals: %v", err)
	}
	if n := retries.Load(); n != 2 {
		t.Fatalf("OnRetry heard of %d retries, want 2", n)
	}
	if _, err := st.Put(ctxT(t), "steady", bytes.NewReader([]byte("hello")), 5, store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat(ctxT(t), "steady"); err != nil {
		t.Fatal(err)
	}
	if n := retries.Load(); n != 2 {
		t.Fatalf("calls that succeeded at once added retries: %d, want 2", n)
	}
}
