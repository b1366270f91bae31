package main

import (
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/registry"
)

// load parses args and env the way a subcommand does.
func load(t *testing.T, args []string, env map[string]string) (*Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cf := addConfigFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return cf.resolve(func(k string) string { return env[k] })
}

func mustLoad(t *testing.T, args []string, env map[string]string) *Config {
	t.Helper()
	c, err := load(t, args, env)
	if err != nil {
		t.Fatalf("load(%v, %v): %v", args, env, err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	c := mustLoad(t, nil, nil)
	checks := []struct {
		name      string
		got, want any
	}{
		{"endpoint", c.Endpoint, ""},
		{"local store", c.LocalStore(), true},
		{"bucket", c.Bucket, "s3vol"},
		{"meta bucket", c.MetaBucket, ""},
		{"tls", c.TLS, true},
		{"path style", c.PathStyle, "auto"},
		{"org", c.Org, "default"},
		{"socket", c.Socket, "/run/docker/plugins/s3vol.sock"},
		{"mount root", c.MountRoot, "/var/lib/s3vol/mounts"},
		{"state dir", c.StateDir, "/var/lib/s3vol"},
		{"cache dir", c.CacheDir, "/var/lib/s3vol/cache"},
		{"local store dir", c.LocalStoreDir(), "/var/lib/s3vol/store"},
		{"memory", c.Memory, int64(256 << 20)},
		{"metadata ttl", c.MetadataTTL, time.Second},
		{"lease ttl", c.LeaseTTL, 60 * time.Second},
		{"mount grace", c.MountGrace, 2 * time.Second},
		{"op timeout", c.OpTimeout, 10 * time.Second},
		{"call timeout", c.CallTimeout, 90 * time.Second},
		{"log level", c.LogLevel, logrus.InfoLevel},
		{"authz", c.Authz, true},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestFlagBeatsEnvBeatsDefault(t *testing.T) {
	env := map[string]string{"S3VOL_ORG": "acme", "S3VOL_MEMORY": "1GiB", "S3VOL_LOG_LEVEL": "debug"}
	c := mustLoad(t, []string{"--org", "globex"}, env)
	if c.Org != "globex" {
		t.Errorf("org = %q, want the flag's globex", c.Org)
	}
	if c.Memory != 1<<30 {
		t.Errorf("memory = %d, want the env's 1GiB", c.Memory)
	}
	if c.LogLevel != logrus.DebugLevel {
		t.Errorf("log level = %v, want debug", c.LogLevel)
	}
}

func TestEndpointForms(t *testing.T) {
	cases := []struct {
		endpoint, tls string
		host          string
		secure        bool
	}{
		{"127.0.0.1:9000", "", "127.0.0.1:9000", true},
		{"127.0.0.1:9000", "false", "127.0.0.1:9000", false},
		{"http://127.0.0.1:9000", "", "127.0.0.1:9000", false},
		{"https://s3.example.com", "", "s3.example.com", true},
		{"https://s3.example.com/", "true", "s3.example.com", true},
	}
	for _, tc := range cases {
		c := mustLoad(t, nil, map[string]string{"S3VOL_ENDPOINT": tc.endpoint, "S3VOL_TLS": tc.tls})
		if c.Endpoint != tc.host || c.TLS != tc.secure || c.LocalStore() {
			t.Errorf("endpoint %q tls %q: got host %q tls %v local %v, want %q %v", tc.endpoint, tc.tls, c.Endpoint, c.TLS, c.LocalStore(), tc.host, tc.secure)
		}
	}
}

// Every bad value is refused with a message naming the setting and what is
// accepted.
func TestBadValuesNameTheSetting(t *testing.T) {
	cases := []struct {
		env, value string
		want       []string
	}{
		{"S3VOL_MEMORY", "lots", []string{"S3VOL_MEMORY", "--memory", "256MiB"}},
		{"S3VOL_MEMORY", "1MiB", []string{"S3VOL_MEMORY", "minimum"}},
		{"S3VOL_METADATA_TTL", "soon", []string{"S3VOL_METADATA_TTL", "500ms"}},
		{"S3VOL_LEASE_TTL", "1s", []string{"S3VOL_LEASE_TTL", "minimum of 5s"}},
		{"S3VOL_MOUNT_GRACE", "-1s", []string{"S3VOL_MOUNT_GRACE", "minimum"}},
		{"S3VOL_OP_TIMEOUT", "100ms", []string{"S3VOL_OP_TIMEOUT", "--op-timeout", "minimum of 1s"}},
		{"S3VOL_CALL_TIMEOUT", "forever", []string{"S3VOL_CALL_TIMEOUT", "2s"}},
		{"S3VOL_LOG_LEVEL", "loud", []string{"S3VOL_LOG_LEVEL", "debug, info, warn, error"}},
		{"S3VOL_PATH_STYLE", "dns", []string{"S3VOL_PATH_STYLE", "auto, path, virtual"}},
		{"S3VOL_TLS", "maybe", []string{"S3VOL_TLS", "true|false"}},
		{"S3VOL_AUTHZ", "sometimes", []string{"S3VOL_AUTHZ", "true|false"}},
		{"S3VOL_BUCKET", "My_Bucket", []string{"S3VOL_BUCKET", "lower-case"}},
		{"S3VOL_META_BUCKET", "x", []string{"S3VOL_META_BUCKET", "3 to 63"}},
		{"S3VOL_ORG", "acme/evil", []string{"S3VOL_ORG", "letters, digits"}},
		{"S3VOL_HOST_ID", "a b", []string{"S3VOL_HOST_ID", "letters, digits"}},
		{"S3VOL_SOCKET", "relative.sock", []string{"S3VOL_SOCKET", "absolute path"}},
		{"S3VOL_MOUNT_ROOT", "mnt", []string{"S3VOL_MOUNT_ROOT", "absolute path"}},
		{"S3VOL_ENDPOINT", "ftp://host:21", []string{"S3VOL_ENDPOINT", "http:// or https://"}},
		{"S3VOL_ENDPOINT", "http://host:9000/bucket", []string{"S3VOL_ENDPOINT", "without a path"}},
	}
	for _, tc := range cases {
		_, err := load(t, nil, map[string]string{tc.env: tc.value})
		if err == nil {
			t.Errorf("%s=%q was accepted", tc.env, tc.value)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s=%q: error %q does not mention %q", tc.env, tc.value, err, w)
			}
		}
	}
}

// Credentials written into the endpoint are refused without being echoed:
// the endpoint goes into logs and error messages.
func TestEndpointWithCredentialsIsRefused(t *testing.T) {
	for _, v := range []string{"AKIDEXAMPLE:s3cr3tValue@minio:9000", "http://AKIDEXAMPLE:s3cr3tValue@minio:9000"} {
		_, err := load(t, nil, map[string]string{"S3VOL_ENDPOINT": v})
		if err == nil {
			t.Errorf("endpoint %q was accepted", v)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3tValue") || !strings.Contains(err.Error(), "credentials file") {
			t.Errorf("endpoint with credentials: error %q echoes the secret or does not say where credentials go", err)
		}
	}
}

func TestTLSMustAgreeWithScheme(t *testing.T) {
	_, err := load(t, nil, map[string]string{"S3VOL_ENDPOINT": "https://s3.example.com", "S3VOL_TLS": "false"})
	if err == nil || !strings.Contains(err.Error(), "S3VOL_TLS") {
		t.Fatalf("https endpoint with S3VOL_TLS=false: err = %v, want a conflict naming S3VOL_TLS", err)
	}
}

func TestCredentialsFile(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain")
	os.WriteFile(plain, []byte("# s3vol\naccess_key = AKIA1\nsecret_key=\"s3cr3t\"\n"), 0o600)
	aws := filepath.Join(dir, "aws")
	os.WriteFile(aws, []byte("[other]\naws_access_key_id = nope\n[default]\naws_access_key_id = AKIA2\naws_secret_access_key = s2\naws_session_token = tok\n"), 0o600)
	half := filepath.Join(dir, "half")
	os.WriteFile(half, []byte("access_key = AKIA3\n"), 0o600)

	c := mustLoad(t, nil, map[string]string{"S3VOL_CREDENTIALS_FILE": plain})
	if c.AccessKey != "AKIA1" || c.SecretKey != "s3cr3t" {
		t.Errorf("plain file: got %q/%q", c.AccessKey, c.SecretKey)
	}
	c = mustLoad(t, []string{"--credentials-file", aws}, nil)
	if c.AccessKey != "AKIA2" || c.SecretKey != "s2" || c.SessionToken != "tok" {
		t.Errorf("aws file: got %q/%q/%q", c.AccessKey, c.SecretKey, c.SessionToken)
	}
	if _, err := load(t, nil, map[string]string{"S3VOL_CREDENTIALS_FILE": half}); err == nil || !strings.Contains(err.Error(), "secret_key") {
		t.Errorf("file without a secret: err = %v, want one naming secret_key", err)
	}
	if _, err := load(t, nil, map[string]string{"S3VOL_CREDENTIALS_FILE": filepath.Join(dir, "missing")}); err == nil {
		t.Error("an explicitly named missing credentials file was accepted")
	}
	// Keys set directly win over the file.
	c = mustLoad(t, nil, map[string]string{"S3VOL_CREDENTIALS_FILE": plain, "S3VOL_ACCESS_KEY": "k", "S3VOL_SECRET_KEY": "s"})
	if c.AccessKey != "k" || c.SecretKey != "s" {
		t.Errorf("direct keys: got %q/%q", c.AccessKey, c.SecretKey)
	}
	if _, err := load(t, nil, map[string]string{"S3VOL_ACCESS_KEY": "k"}); err == nil {
		t.Error("an access key without a secret key was accepted")
	}
}

func TestHostIDIsKept(t *testing.T) {
	dir := t.TempDir()
	c := mustLoad(t, []string{"--state-dir", dir}, nil)
	first, err := c.resolveHostID()
	if err != nil {
		t.Fatal(err)
	}
	if validName(first) != nil {
		t.Fatalf("generated host id %q is not a valid name", first)
	}
	again, err := mustLoad(t, []string{"--state-dir", dir}, nil).resolveHostID()
	if err != nil || again != first {
		t.Fatalf("second resolve = %q, %v; want the kept %q", again, err, first)
	}
	set, err := mustLoad(t, []string{"--state-dir", dir, "--host-id", "node-7"}, nil).resolveHostID()
	if err != nil || set != "node-7" {
		t.Fatalf("configured host id: got %q, %v", set, err)
	}
}

// config.json (the managed plugin, issue 7) may only offer settings the
// daemon reads; a typo there would be a setting that silently does nothing.
func TestConfigJSONEnvMatchesTheDaemon(t *testing.T) {
	b, err := os.ReadFile("../config.json")
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		Env []struct{ Name string }
	}
	if err := json.Unmarshal(b, &manifest); err != nil {
		t.Fatalf("config.json: %v", err)
	}
	known, offered := map[string]bool{}, map[string]bool{}
	for _, n := range EnvNames() {
		known[n] = true
	}
	for _, e := range manifest.Env {
		offered[e.Name] = true
		if !known[e.Name] {
			t.Errorf("config.json offers %s, which the daemon does not read (known: %s)", e.Name, strings.Join(EnvNames(), ", "))
		}
	}
	for _, n := range EnvNames() {
		if !offered[n] {
			t.Errorf("the daemon reads %s but config.json does not offer it: managed-plugin users could not set it", n)
		}
	}
}

// A secret on the command line is visible to every user of the host in
// /proc/PID/cmdline, so the flag is refused, without echoing the value,
// with a message naming the places a secret may be given.
func TestSecretFlagIsRefused(t *testing.T) {
	for _, args := range [][]string{
		{"--secret-key", "s3cr3tValue"},
		{"--secret-key=s3cr3tValue", "--access-key", "k"},
		{"-secret-key", "s3cr3tValue"},
	} {
		_, err := load(t, args, nil)
		if err == nil {
			t.Errorf("%v was accepted", args)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "s3cr3tValue") {
			t.Errorf("%v: error %q echoes the secret", args, msg)
		}
		for _, want := range []string{"--secret-key", "/proc", "S3VOL_SECRET_KEY", "S3VOL_CREDENTIALS_FILE"} {
			if !strings.Contains(msg, want) {
				t.Errorf("%v: error %q does not mention %s", args, msg, want)
			}
		}
	}
	// The same secret from the environment is fine.
	c := mustLoad(t, nil, map[string]string{"S3VOL_ACCESS_KEY": "k", "S3VOL_SECRET_KEY": "s3cr3tValue"})
	if c.SecretKey != "s3cr3tValue" {
		t.Errorf("secret key from the environment: %q", c.SecretKey)
	}
}

// The boolean settings take the same spellings as the volumes' ro option
// (issue 19.9).
func TestBooleanSettingsSpellings(t *testing.T) {
	for v, want := range map[string]bool{"yes": true, "on": true, "1": true, "TRUE": true, "no": false, "off": false, "0": false} {
		c, err := load(t, nil, map[string]string{"S3VOL_AUTHZ": v, "S3VOL_AUTHZ_ALLOW_UNCHECKED": v, "S3VOL_TLS": v, "S3VOL_ENDPOINT": "minio:9000"})
		if err != nil || c.Authz != want || c.AuthzAllowUnchecked != want || c.TLS != want {
			t.Errorf("booleans set to %q: %+v %v", v, c, err)
		}
	}
	for _, env := range []string{"S3VOL_AUTHZ", "S3VOL_TLS"} {
		if _, err := load(t, nil, map[string]string{env: "t"}); err == nil || !strings.Contains(err.Error(), registry.BoolSpellings) {
			t.Errorf("%s=t: want a refusal listing %s, got %v", env, registry.BoolSpellings, err)
		}
	}
}
