package s3store

import (
	"errors"
	"net"
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
	wantConnectErr(t, testConfig(srv, "no-such-bucket-s3vol"), store.ErrNotFound, "does not exist: create it")
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
	cfg := Config{Endpoint: addr, Bucket: "b", AccessKey: "a", SecretKey: "secret-value", Retries: 1, Region: "us-east-1"}
	wantConnectErr(t, cfg, store.ErrUnavailable, "cannot reach")
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
