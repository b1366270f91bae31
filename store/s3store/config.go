package s3store

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/s3vol/s3vol/store"
)

// Defaults of Config.
const (
	DefaultEndpoint       = "s3.amazonaws.com"
	DefaultRequestTimeout = 30 * time.Second
	DefaultRetries        = 3
)

// Addressing styles for Config.Lookup.
const (
	LookupAuto = "auto" // virtual-host for AWS and known providers, else path
	LookupPath = "path" // http://endpoint/bucket/key
	LookupDNS  = "dns"  // http://bucket.endpoint/key (virtual-host style)
)

// Config says where a Store's bucket is and how to reach it.
type Config struct {
	// Endpoint is host[:port] or a URL (http://host:port, https://...);
	// a URL's scheme overrides Secure. Default: AWS S3.
	Endpoint string
	Bucket   string
	// Region of the bucket; empty lets the client ask the server.
	Region string
	// Secure selects TLS (https) for a host:port Endpoint.
	Secure bool
	// Lookup is the addressing style: "auto" (default), "path", or "dns"
	// (also spelled "virtual-host").
	Lookup string

	// Credentials, tried in this order: static keys (AccessKey and
	// SecretKey, with SessionToken for temporary keys); else
	// CredentialsFile, an AWS shared credentials file (INI sections named
	// by profile, with aws_access_key_id, aws_secret_access_key and
	// optionally aws_session_token) read for Profile (default: $AWS_PROFILE,
	// else "default"); else the standard chain: AWS_ACCESS_KEY_ID /
	// AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, MINIO_ROOT_USER /
	// MINIO_ROOT_PASSWORD, ~/.aws/credentials (or
	// $AWS_SHARED_CREDENTIALS_FILE), then IAM (ECS task role, web identity,
	// EC2 instance metadata).
	AccessKey       string
	SecretKey       string
	SessionToken    string
	CredentialsFile string
	Profile         string

	// RequestTimeout bounds every call that moves no bulk data (stat,
	// list page, delete, multipart create/complete/abort), its retries
	// included; a call that moves data (get, put, part upload) fails when
	// it makes no progress for RequestTimeout. Default 30 s.
	RequestTimeout time.Duration
	// Retries is how many times a failed request is retried (network
	// errors, 5xx, throttling) with exponential backoff; bodies that cannot
	// be rewound are not retried. A GET body cut off mid-stream (connection
	// reset, early end) is resumed from where it stopped, pinned to its
	// ETag, up to Retries times in a row without progress. Default 3;
	// negative disables retries and resumes.
	Retries int
	// OnRetry, when set, is called for each retry: a request minio-go
	// sends again after a failure, and a GET body resumed after it was cut
	// off (for metrics).
	OnRetry func()

	// Uploads of unknown size (Put with size -1, and known sizes over one
	// part) go through store.Writer with these options.
	Upload store.WriterOptions
}

// withDefaults fills in defaults and checks the config.
func (c Config) withDefaults() (Config, error) {
	if c.Bucket == "" {
		return c, errors.New("no bucket given: set the bucket name")
	}
	if c.Endpoint == "" {
		c.Endpoint, c.Secure = DefaultEndpoint, true
	}
	if strings.Contains(c.Endpoint, "://") {
		u, err := url.Parse(c.Endpoint)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") || strings.Trim(u.Path, "/") != "" {
			return c, fmt.Errorf("endpoint %q is not valid: give host[:port] or http(s)://host[:port] without a path", c.Endpoint)
		}
		c.Endpoint, c.Secure = u.Host, u.Scheme == "https"
	}
	if _, _, err := net.SplitHostPort(c.Endpoint); err != nil && strings.Contains(c.Endpoint, ":") && !strings.HasPrefix(c.Endpoint, "[") {
		return c, fmt.Errorf("endpoint %q is not valid: give host[:port]", c.Endpoint)
	}
	switch c.Lookup {
	case "", LookupAuto, LookupPath, LookupDNS, "virtual-host":
	default:
		return c, fmt.Errorf("addressing style %q is not valid: use %q, %q or %q", c.Lookup, LookupAuto, LookupPath, LookupDNS)
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		return c, errors.New("only one of access key and secret key is set: give both, or neither to use a credentials file or the environment")
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	}
	c.Retries = max(c.Retries, 0)
	return c, nil
}

func (c Config) bucketLookup() minio.BucketLookupType {
	switch c.Lookup {
	case LookupPath:
		return minio.BucketLookupPath
	case LookupDNS, "virtual-host":
		return minio.BucketLookupDNS
	}
	return minio.BucketLookupAuto
}

// credentials picks the credential source and names it for messages.
func (c Config) credentials() (*credentials.Credentials, string, error) {
	switch {
	case c.AccessKey != "":
		return credentials.NewStaticV4(c.AccessKey, c.SecretKey, c.SessionToken), "the configured access key", nil
	case c.CredentialsFile != "":
		if _, err := os.Stat(c.CredentialsFile); err != nil {
			return nil, "", fmt.Errorf("credentials file: %w", err)
		}
		profile := c.Profile
		if profile == "" {
			profile = os.Getenv("AWS_PROFILE")
		}
		if profile == "" {
			profile = "default"
		}
		src := fmt.Sprintf("credentials file %s (profile %q)", c.CredentialsFile, profile)
		return credentials.NewFileAWSCredentials(c.CredentialsFile, profile), src, nil
	}
	chain := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.EnvMinio{},
		&credentials.FileAWSCredentials{Profile: c.Profile},
		&credentials.IAM{Client: &http.Client{Transport: http.DefaultTransport, Timeout: 10 * time.Second}},
	})
	return chain, "the environment (AWS_*/MINIO_* variables, ~/.aws/credentials, IAM)", nil
}

// transport is minio-go's default transport with bounded connection set-up
// and a backstop deadline on requests that carry none (minio-go issues a
// few internal requests without a context).
func (c Config) transport() (http.RoundTripper, error) {
	base, err := minio.DefaultTransport(c.Secure)
	if err != nil {
		return nil, fmt.Errorf("building the HTTP transport: %w", err)
	}
	base.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	base.TLSHandshakeTimeout = 10 * time.Second
	return &deadlineTransport{base: base, timeout: c.RequestTimeout}, nil
}
