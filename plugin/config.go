package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/registry"
)

// Config is the daemon's configuration: every setting comes from a flag
// (--endpoint) or the environment variable of the same name
// (S3VOL_ENDPOINT), the flag winning, else from its default.
type Config struct {
	Endpoint        string // host:port of the S3 endpoint; "" = the built-in local store
	Region          string
	Bucket          string // data bucket
	MetaBucket      string // metadata bucket; "" = Bucket under MetaPrefix
	TLS             bool   // reach Endpoint over https
	PathStyle       string // auto, path or virtual
	CredentialsFile string
	credentialsSet  bool  // CredentialsFile was given explicitly: it must exist
	schemeTLS       *bool // TLS implied by an http(s):// endpoint
	explicitTLS     *bool // TLS as set by S3VOL_TLS
	AccessKey       string
	SecretKey       string
	SessionToken    string // only from the credentials file
	Org             string
	HostID          string // "" = hostname + a suffix kept in StateDir
	Socket          string
	MountRoot       string
	StateDir        string
	CacheDir        string // "" = StateDir/cache
	Memory          int64  // bytes
	MetadataTTL     time.Duration
	FastListing     bool // trust listings for the attributes they lack (s3fs.Options.FastListing)
	LeaseTTL        time.Duration
	MountGrace      time.Duration
	OpTimeout       time.Duration // how long a store request on a mount may make no progress
	CallTimeout     time.Duration // the most one Docker call waits for the store
	LogLevel        logrus.Level
	LogFormat       string // logText or logDockerd
	Authz           bool
	// AuthzAllowUnchecked lets the authorization plugin allow the requests
	// whose volume mounts it cannot see (it refuses them by default).
	AuthzAllowUnchecked bool
	// HTTPAddr is the host:port of the metrics and health listener; ""
	// turns it off.
	HTTPAddr string
	// HTTPToken allows changes through the dashboard ("" = read-only);
	// HTTPTokenFile is the file it is read from when set.
	HTTPToken     string
	HTTPTokenFile string
	// UsageInterval is how old a volume's size may get before the
	// background scan measures it again.
	UsageInterval time.Duration
}

// MetaPrefix is the key prefix of the registry's records when they share the
// data bucket.
const MetaPrefix = "s3vol-meta/"

// setting is one configuration knob: its flag, its environment variable,
// its default and how it is parsed into a Config.
type setting struct {
	flag string
	def  string
	help string
	set  func(c *Config, v string) error
}

// Env is the environment variable that sets s.
func (s setting) Env() string {
	return "S3VOL_" + strings.ToUpper(strings.ReplaceAll(s.flag, "-", "_"))
}

// settings lists every setting, in the order help shows them. It is the one
// place the flag and environment names are defined (config.json's settable
// env must match it).
var settings = []setting{
	{"endpoint", "", "S3 endpoint, host:port or http(s)://host:port; empty = the built-in local store in the state folder", setEndpoint},
	{"region", "", "S3 region (empty = the store's default)", func(c *Config, v string) error { c.Region = v; return nil }},
	{"bucket", "s3vol", "bucket that holds volume data", setBucket(func(c *Config) *string { return &c.Bucket })},
	{"meta-bucket", "", "bucket for the volume registry (empty = the data bucket, under " + MetaPrefix + ")", setBucket(func(c *Config) *string { return &c.MetaBucket })},
	{"tls", "", "reach the endpoint over TLS: true or false (or yes|no, on|off, 1|0; empty = from the endpoint's scheme, else true)", setTLS},
	{"path-style", "auto", "bucket addressing: auto, path or virtual", setPathStyle},
	{"credentials-file", "/etc/s3vol/credentials", "file with access_key= and secret_key= lines (or an AWS credentials file), so secrets stay out of the environment", setCredentialsFile},
	{"access-key", "", "S3 access key (prefer the credentials file); empty = the credentials file, then AWS_*/MINIO_* variables and files", func(c *Config, v string) error { c.AccessKey = v; return nil }},
	{"secret-key", "", "S3 secret key, from the environment only (prefer the credentials file); refused as a flag, since every user of the host can read a command line", func(c *Config, v string) error { c.SecretKey = v; return nil }},
	{"org", "default", "organization whose volumes this host serves", setOrg},
	{"host-id", "", "this host's id in mount leases (empty = hostname + a random suffix kept in the state folder)", setHostID},
	{"socket", "/run/docker/plugins/s3vol.sock", "unix socket the plugin serves; Docker finds legacy plugins as /run/docker/plugins/NAME.sock", setAbsPath(func(c *Config) *string { return &c.Socket })},
	{"mount-root", "/var/lib/s3vol/mounts", "folder under which volumes are mounted (the managed plugin's propagated mount)", setAbsPath(func(c *Config) *string { return &c.MountRoot })},
	{"state-dir", "/var/lib/s3vol", "folder for the host id, the built-in local store and (by default) the cache", setAbsPath(func(c *Config) *string { return &c.StateDir })},
	{"cache-dir", "", "folder for staging and cache files (empty = STATE_DIR/cache)", setCacheDir},
	{"memory", "256MiB", "memory budget for all data buffers, e.g. 256MiB or 1GiB", setMemory},
	{"metadata-ttl", "1s", "how long cached attributes and listings stay valid, e.g. 1s or 500ms (0 = always revalidate)", setDuration(func(c *Config) *time.Duration { return &c.MetadataTTL }, 0)},
	{"fast-listing", "false", "trust listings for the attributes they do not carry: ls -l of files other tools wrote costs no request per file, but they show the volume's default owner and mode until opened", setBool(func(c *Config) *bool { return &c.FastListing })},
	{"lease-ttl", "60s", "how long a dead host's mount lease blocks volume deletion (at least 5s)", setDuration(func(c *Config) *time.Duration { return &c.LeaseTTL }, 5*time.Second)},
	{"op-timeout", "10s", "how long a store request on a mount may make no progress before the system call waiting for it fails with EIO (a system call ends within 3 times this when the store hangs), at least 1s", setDuration(func(c *Config) *time.Duration { return &c.OpTimeout }, time.Second)},
	{"call-timeout", "90s", "the most a Docker volume call (create, remove, mount) waits for the store; keep it under dockerd's 2-minute limit, at least 5s", setDuration(func(c *Config) *time.Duration { return &c.CallTimeout }, 5*time.Second)},
	{"mount-grace", "2s", "how long a volume stays mounted after its last container leaves (0 = unmount at once)", setDuration(func(c *Config) *time.Duration { return &c.MountGrace }, 0)},
	{"log-level", "info", "log level: debug, info, warn or error", setLogLevel},
	{"log-format", logText, "log lines: " + logText + " (logfmt with timestamps) or " + logDockerd + " (for dockerd's log of a managed plugin: the level first, no timestamp or quotes, errors on stderr)", setLogFormat},
	{"authz", "true", "also serve the authorization plugin on the socket (dockerd calls it only when started with --authorization-plugin)", setBool(func(c *Config) *bool { return &c.Authz })},
	{"authz-allow-unchecked", "false", "let the authorization plugin allow container creates whose body dockerd did not pass on (1 MiB or more) or that it cannot read, unchecked, instead of refusing them", setBool(func(c *Config) *bool { return &c.AuthzAllowUnchecked })},
	{"http-addr", "", "host:port of the HTTP listener for the dashboard (/), /metrics and /healthz, e.g. 127.0.0.1:9180 (empty = off); anyone who reaches it sees the volume names: keep it on loopback or behind a firewall; an address other than loopback needs a token", setHTTPAddr},
	{"http-token", "", "token that allows creating and deleting volumes on the dashboard, from the environment only (empty = the dashboard is read-only)", func(c *Config, v string) error { c.HTTPToken = v; return nil }},
	{"usage-interval", "15m", "how often each volume's size is measured again by the background scan (at most 5,000 objects listed a second), at least 1s", setDuration(func(c *Config) *time.Duration { return &c.UsageInterval }, time.Second)},
	{"http-token-file", "", "file holding the dashboard's token (instead of S3VOL_HTTP_TOKEN)", setTokenFile},
}

// environmentOnly are the settings that hold a secret: a command line is
// readable by every user of the host (/proc/PID/cmdline, ps), so their
// flags exist only to refuse them with a message saying where the secret
// goes instead.
var environmentOnly = map[string]bool{"secret-key": true, "http-token": true}

// EnvNames lists the environment variables the daemon reads, in order.
func EnvNames() []string {
	names := make([]string, len(settings))
	for i, s := range settings {
		names[i] = s.Env()
	}
	return names
}

// configFlags are the settings registered on a command's flag set.
type configFlags struct {
	fs     *flag.FlagSet
	values map[string]*string
}

// addConfigFlags registers every setting as a flag of fs.
func addConfigFlags(fs *flag.FlagSet) *configFlags {
	cf := &configFlags{fs: fs, values: make(map[string]*string)}
	for _, s := range settings {
		help := fmt.Sprintf("%s (env %s", s.help, s.Env())
		if s.def != "" {
			help += ", default " + s.def
		}
		cf.values[s.flag] = fs.String(s.flag, "", help+")")
	}
	return cf
}

// resolve builds the Config from the parsed flags, then getenv, then the
// defaults. A bad value yields an error that names the setting and says what
// is accepted.
func (cf *configFlags) resolve(getenv func(string) string) (*Config, error) {
	given := make(map[string]bool)
	cf.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	c := &Config{}
	for _, s := range settings {
		v, explicit := s.def, false
		if env := getenv(s.Env()); env != "" {
			v, explicit = env, true
		}
		if given[s.flag] {
			if environmentOnly[s.flag] {
				return nil, secretFlagError(s)
			}
			v, explicit = *cf.values[s.flag], true
		}
		if s.flag == "credentials-file" {
			c.credentialsSet = explicit
		}
		if err := s.set(c, strings.TrimSpace(v)); err != nil {
			return nil, fmt.Errorf("%s (--%s): %w", s.Env(), s.flag, err)
		}
	}
	if c.CacheDir == "" {
		c.CacheDir = filepath.Join(c.StateDir, "cache")
	}
	if err := c.resolveTLS(); err != nil {
		return nil, err
	}
	if err := c.loadCredentials(); err != nil {
		return nil, err
	}
	return c, nil
}

// secretFlagError refuses a secret given as a flag, without echoing it.
func secretFlagError(s setting) error {
	if s.flag == "http-token" {
		return usageError{fmt.Sprintf("--%s is refused: a command line is readable by every user of the host (ps, /proc/PID/cmdline); "+
			"put the token in the environment variable %s or in a file named by --http-token-file (S3VOL_HTTP_TOKEN_FILE)", s.flag, s.Env())}
	}
	return usageError{fmt.Sprintf("--%s is refused: a command line is readable by every user of the host (ps, /proc/PID/cmdline); "+
		"put the secret in the credentials file (S3VOL_CREDENTIALS_FILE, --credentials-file, default /etc/s3vol/credentials, mode 0600) "+
		"or in the environment variable %s", s.flag, s.Env())}
}

// LocalStore reports whether the daemon runs on the built-in local store.
func (c *Config) LocalStore() bool { return c.Endpoint == "" }

// LocalStoreDir is the folder of the built-in local store.
func (c *Config) LocalStoreDir() string { return filepath.Join(c.StateDir, "store") }

// tlsFromScheme remembers the scheme of an endpoint given as a URL, which
// decides TLS when S3VOL_TLS is empty.
var tlsFromScheme = map[string]bool{"http": false, "https": true}

func setEndpoint(c *Config, v string) error {
	if v == "" {
		c.Endpoint = ""
		return nil
	}
	// Not echoed: the endpoint is logged and named in errors, and the part
	// before '@' is a key and a secret. (url.Parse would drop it silently.)
	if strings.Contains(v, "@") {
		return errors.New("the endpoint holds credentials (user:secret@); give host:port or http(s)://host:port, and put the keys in the credentials file (S3VOL_CREDENTIALS_FILE)")
	}
	if strings.Contains(v, "://") {
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("%q is not an endpoint; use host:port or http(s)://host:port without a path", v)
		}
		secure, ok := tlsFromScheme[u.Scheme]
		if !ok {
			return fmt.Errorf("%q has scheme %q; use http:// or https://", v, u.Scheme)
		}
		c.Endpoint, c.schemeTLS = u.Host, &secure
		return nil
	}
	if strings.ContainsAny(v, "/?# ") {
		return fmt.Errorf("%q is not an endpoint; use host:port or http(s)://host:port", v)
	}
	c.Endpoint = v
	return nil
}

func setTLS(c *Config, v string) error {
	if v == "" {
		return nil
	}
	b, err := registry.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%q is %w (or leave it empty to follow the endpoint's scheme)", v, err)
	}
	c.explicitTLS = &b
	return nil
}

// resolveTLS decides TLS from S3VOL_TLS and the endpoint's scheme, which
// must agree when both are given; TLS is the default.
func (c *Config) resolveTLS() error {
	c.TLS = true
	switch {
	case c.explicitTLS != nil && c.schemeTLS != nil && *c.explicitTLS != *c.schemeTLS:
		return fmt.Errorf("S3VOL_TLS (--tls) is %v but S3VOL_ENDPOINT (--endpoint) says %s://; make them agree or leave S3VOL_TLS empty",
			*c.explicitTLS, map[bool]string{true: "https", false: "http"}[*c.schemeTLS])
	case c.explicitTLS != nil:
		c.TLS = *c.explicitTLS
	case c.schemeTLS != nil:
		c.TLS = *c.schemeTLS
	}
	return nil
}

var pathStyles = []string{"auto", "path", "virtual"}

func setPathStyle(c *Config, v string) error {
	for _, p := range pathStyles {
		if strings.EqualFold(v, p) {
			c.PathStyle = p
			return nil
		}
	}
	return fmt.Errorf("%q is not accepted; use one of %s", v, strings.Join(pathStyles, ", "))
}

func setCredentialsFile(c *Config, v string) error {
	if v != "" && !filepath.IsAbs(v) {
		return fmt.Errorf("%q is not an absolute path", v)
	}
	c.CredentialsFile = v
	return nil
}

// Bucket names follow S3's rules: 3 to 63 characters, lower-case letters,
// digits, dots and hyphens, starting and ending with a letter or digit.
func setBucket(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v != "" {
			if err := validBucket(v); err != nil {
				return err
			}
		}
		*field(c) = v
		return nil
	}
}

func validBucket(v string) error {
	bad := len(v) < 3 || len(v) > 63
	for i, r := range v {
		edge := i == 0 || i == len(v)-1
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '-' || r == '.') && !edge:
		default:
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("%q is not a bucket name; use 3 to 63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit", v)
	}
	return nil
}

func setOrg(c *Config, v string) error {
	if v == "" {
		return fmt.Errorf("must not be empty; use e.g. default or acme")
	}
	if err := validName(v); err != nil {
		return err
	}
	c.Org = v
	return nil
}

func setHostID(c *Config, v string) error {
	if v != "" {
		if err := validName(v); err != nil {
			return err
		}
	}
	c.HostID = v
	return nil
}

// validName accepts the names that are safe as one component of an object
// key: letters, digits, '.', '_' and '-', at most 64, not starting with '.'.
func validName(v string) error {
	bad := len(v) > 64 || strings.HasPrefix(v, ".")
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			bad = true
		}
	}
	if bad {
		return fmt.Errorf("%q is not accepted; use up to 64 letters, digits, '.', '_' and '-', not starting with '.'", v)
	}
	return nil
}

func setAbsPath(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if !filepath.IsAbs(v) {
			return fmt.Errorf("%q is not an absolute path", v)
		}
		*field(c) = filepath.Clean(v)
		return nil
	}
}

func setTokenFile(c *Config, v string) error {
	if v == "" {
		c.HTTPTokenFile = ""
		return nil
	}
	return setAbsPath(func(c *Config) *string { return &c.HTTPTokenFile })(c, v)
}

// dashboardToken is the dashboard's token: the content of HTTPTokenFile
// (surrounding white space trimmed) when it is set, else HTTPToken.
func (c *Config) dashboardToken() (string, error) {
	if c.HTTPTokenFile == "" {
		return c.HTTPToken, nil
	}
	data, err := os.ReadFile(c.HTTPTokenFile)
	if err != nil {
		return "", fmt.Errorf("S3VOL_HTTP_TOKEN_FILE (--http-token-file): reading the dashboard token: %w", err)
	}
	token := strings.TrimSpace(string(data))
	if token == "" {
		return "", fmt.Errorf("S3VOL_HTTP_TOKEN_FILE (--http-token-file): %s is empty; put the dashboard token in it, or unset it for a read-only dashboard", c.HTTPTokenFile)
	}
	return token, nil
}

func setCacheDir(c *Config, v string) error {
	if v == "" {
		c.CacheDir = ""
		return nil
	}
	return setAbsPath(func(c *Config) *string { return &c.CacheDir })(c, v)
}

// minMemory keeps the budget large enough for one multipart part in flight.
const minMemory = 16 << 20

func setMemory(c *Config, v string) error {
	n, err := humanize.ParseBytes(v)
	if err != nil {
		return fmt.Errorf("%q is not a size; use e.g. 256MiB, 1GiB or 512MB", v)
	}
	if n < minMemory {
		return fmt.Errorf("%q is below the minimum of %s", v, humanize.IBytes(minMemory))
	}
	c.Memory = int64(n)
	return nil
}

func setDuration(field func(*Config) *time.Duration, min time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration; use e.g. 500ms, 2s or 1m", v)
		}
		if d < min {
			return fmt.Errorf("%q is below the minimum of %v", v, min)
		}
		*field(c) = d
		return nil
	}
}

var logLevels = []string{"debug", "info", "warn", "error"}

func setLogFormat(c *Config, v string) error {
	for _, name := range []string{logText, logDockerd} {
		if strings.EqualFold(v, name) {
			c.LogFormat = name
			return nil
		}
	}
	return fmt.Errorf("%q is not a log format; use %s or %s", v, logText, logDockerd)
}

func setLogLevel(c *Config, v string) error {
	for _, name := range logLevels {
		if strings.EqualFold(v, name) {
			lvl, err := logrus.ParseLevel(name)
			if err != nil {
				return err
			}
			c.LogLevel = lvl
			return nil
		}
	}
	return fmt.Errorf("%q is not a log level; use one of %s", v, strings.Join(logLevels, ", "))
}

func setBool(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := registry.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is %w", v, err)
		}
		*field(c) = b
		return nil
	}
}

// setHTTPAddr accepts host:port (host may be empty for every interface, or
// an IPv6 address in brackets). Any address is accepted: the listener
// serves only read-only metrics and health, and the README says to keep it
// on loopback or behind a firewall.
func setHTTPAddr(c *Config, v string) error {
	if v == "" {
		c.HTTPAddr = ""
		return nil
	}
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%q is not host:port; use e.g. 127.0.0.1:9180, or leave it empty to turn the listener off", v)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has port %q; use a number from 0 to 65535, e.g. 127.0.0.1:9180", v, port)
	}
	c.HTTPAddr = v
	return nil
}
