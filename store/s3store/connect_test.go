package s3store

import (
	"errors"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/store"
)

// wantConnectErr checks New's error: its kind, that the message says what
// to fix, and that no secret leaks into it.
func wantConnectErr(t *testing.T, cfg Config, kind error, hint string) {
	t.Helper()
	_, err := New(ctxT(t), cfg)
	if !errors.Is(err, kind) {
		t.Fatalf("New: got %v, want an error wrapping %q", err, kind)
	}
	if !strings.Contains(err.Error(), hint) {
		t.Fatalf("New: message %q does not say %q", err, hint)
	}
	if cfg.SecretKey != "" && strings.Contains(err.Error(), cfg.SecretKey) {
		t.Fatalf("New: message %q contains the secret key", err)
	}
}

func TestNewMissingBucket(t *testing.T) {
	srv := miniotest.Shared(t)
	cfg := testConfig(srv, "no-such-bucket-s3vol")
	wantConnectErr(t, cfg, store.ErrNoBucket, "does not exist: create it")
	// A missing bucket is not a missing key: read as one, it would make an
	// empty registry (issue 19.4).
	if _, err := New(ctxT(t), cfg); errors.Is(err, store.ErrNotFound) {
		t.Fatalf("New: %v is an ErrNotFound", err)
	}
}

func TestNewWrongSecretKey(t *testing.T) {
	srv := miniotest.Shared(t)
	cfg := testConfig(srv, srv.NewBucket(t))
	cfg.SecretKey = "wrong-secret-key-0123456789"
	wantConnectErr(t, cfg, store.ErrAccessDenied, "check the secret key")
}

func TestNewUnknownAccessKey(t *testing.T) {
	srv := miniotest.Shared(t)
	cfg := testConfig(srv, srv.NewBucket(t))
	cfg.AccessKey = "nobody"
	wantConnectErr(t, cfg, store.ErrAccessDenied, "check the access key")
}

func TestNewUnreachableEndpoint(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	cfg := Config{Endpoint: addr, Bucket: "bucket-b", AccessKey: "a", SecretKey: "secret-value", Retries: 1, Region: "us-east-1"}
	wantConnectErr(t, cfg, store.ErrUnavailable, "nothing listens at "+addr+" (connection refused)")
}

// TLS on one side only is named as such, both ways (issue 19.4): https to
// a plain-http MinIO, and plain http to MinIO behind a TLS proxy.
func TestNewTLSMismatch(t *testing.T) {
	srv := miniotest.Shared(t)
	cfg := testConfig(srv, srv.NewBucket(t))
	cfg.Endpoint, cfg.Secure = srv.Endpoint, true // host:port, so Secure decides
	wantConnectErr(t, cfg, store.ErrUnavailable, "TLS mismatch: "+srv.Endpoint+" speaks plain http")

	target, err := url.Parse("http://" + srv.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	defer proxy.Close()
	cfg.Secure = false
	cfg.Endpoint = strings.TrimPrefix(proxy.URL, "https://")
	_, err = New(ctxT(t), cfg)
	if err == nil || !strings.Contains(err.Error(), "TLS mismatch: "+cfg.Endpoint+" speaks TLS (https)") {
		t.Fatalf("New over http to a TLS endpoint: %v; want it to say the endpoint speaks TLS", err)
	}
	cfg.Secure = true
	_, err = New(ctxT(t), cfg)
	if err == nil || !strings.Contains(err.Error(), "certificate of "+cfg.Endpoint+" is not trusted") {
		t.Fatalf("New over https with an untrusted certificate: %v; want it to say so", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Endpoint: "127.0.0.1:9000"},                                 // no bucket
		{Endpoint: "127.0.0.1:9000", Bucket: "b", AccessKey: "only"}, // half the keys
		{Endpoint: "127.0.0.1:9000", Bucket: "b", Lookup: "sideways"},
		{Endpoint: "ftp://127.0.0.1:9000", Bucket: "b"},
		{Endpoint: "http://127.0.0.1:9000/path", Bucket: "b"},
		{Endpoint: "127.0.0.1:9000", Bucket: "b", CredentialsFile: "/nonexistent/credentials"},
	} {
		_, err := New(ctxT(t), cfg)
		if !errors.Is(err, store.ErrInvalidArgument) {
			t.Errorf("New(%+v): got %v, want ErrInvalidArgument", cfg, err)
		}
	}
}

func TestCredentialsFile(t *testing.T) {
	srv := miniotest.Shared(t)
	cfg := testConfig(srv, srv.NewBucket(t))
	file := filepath.Join(t.TempDir(), "credentials")
	body := "[default]\naws_access_key_id = nobody\naws_secret_access_key = nothing\n\n" +
		"[s3vol]\naws_access_key_id = " + cfg.AccessKey + "\naws_secret_access_key = " + cfg.SecretKey + "\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.AccessKey, cfg.SecretKey = "", ""
	cfg.CredentialsFile, cfg.Profile = file, "s3vol"
	newStoreCfg(t, cfg)
	cfg.Profile = "default"
	wantConnectErr(t, cfg, store.ErrAccessDenied, "profile \"default\"")
}

func TestCredentialsFromEnvironment(t *testing.T) {
	srv := miniotest.Shared(t)
	cfg := testConfig(srv, srv.NewBucket(t))
	t.Setenv("AWS_ACCESS_KEY_ID", cfg.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", cfg.SecretKey)
	cfg.AccessKey, cfg.SecretKey = "", ""
	newStoreCfg(t, cfg)
}

func TestStringHasNoSecret(t *testing.T) {
	s := newStore(t)
	if strings.Contains(s.String(), s.cfg.SecretKey) || !strings.HasPrefix(s.String(), "s3://s3vol-test-") {
		t.Fatalf("String() = %q", s.String())
	}
}
