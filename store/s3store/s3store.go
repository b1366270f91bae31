// Package s3store is the store.Store backend for S3-compatible services
// (AWS S3, MinIO, Ceph RGW, R2, ...), on minio-go.
//
// Every request carries the caller's context plus a bound of its own (see
// Config.RequestTimeout); minio-go retries transient failures (network
// errors, 5xx, throttling) Config.Retries times with exponential backoff.
// A GET body cut off mid-stream is resumed with a ranged GET for the bytes
// not yet delivered, with If-Match on the first reply's ETag, so a read
// never mixes two versions of an object.
// Conditional writes use If-None-Match: * and If-Match: <etag>, on single
// PUTs and on CompleteMultipartUpload alike.
//
// A retried conditional write is ambiguous, as on every S3 client: when a
// first attempt succeeded but its reply was lost, the retry reports
// ErrPreconditionFailed although the write took place.
package s3store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/sirupsen/logrus"
	"golang.org/x/net/http/httpguts"

	"github.com/s3vol/s3vol/store"
)

// Store is a store.Store on one S3 bucket.
type Store struct {
	cfg    Config
	core   minio.Core
	bucket string
	name   string // for String()
	obs    *observingTransport
}

var _ store.Store = (*Store)(nil)

// New connects to the bucket cfg names and checks that it exists and that
// the credentials may list it, so that a wrong setting fails here with a
// message that says what to fix.
func New(ctx context.Context, cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, store.NewError("connect", "", store.ErrInvalidArgument, err)
	}
	creds, credSrc, err := cfg.credentials()
	if err != nil {
		return nil, store.NewError("connect", "", store.ErrInvalidArgument, err)
	}
	base, err := cfg.transport()
	if err != nil {
		return nil, store.NewError("connect", "", nil, err)
	}
	tr := &observingTransport{base: base, retries: &retryCounter{onRetry: cfg.OnRetry}}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:        creds,
		Secure:       cfg.Secure,
		Region:       cfg.Region,
		BucketLookup: cfg.bucketLookup(),
		Transport:    tr,
		MaxRetries:   cfg.Retries + 1, // minio-go counts attempts
	})
	if err != nil {
		return nil, store.NewError("connect", "", store.ErrInvalidArgument,
			fmt.Errorf("endpoint %q: %w", cfg.Endpoint, err))
	}
	s := &Store{cfg: cfg, core: minio.Core{Client: client}, bucket: cfg.Bucket, obs: tr}
	s.name = fmt.Sprintf("s3://%s (%s)", cfg.Bucket, client.EndpointURL().String())
	if err := s.checkBucket(ctx, creds, credSrc); err != nil {
		return nil, err
	}
	logrus.WithFields(logrus.Fields{"store": s.name, "credentials": credSrc}).Debug("connected to S3 bucket")
	return s, nil
}

// checkBucket lists one key: that proves the bucket exists, the endpoint
// answers and the credentials are accepted. When it fails, the error says
// which of them is wrong (see diagnose).
func (s *Store) checkBucket(ctx context.Context, creds *credentials.Credentials, credSrc string) error {
	_, err := s.listPage(ctx, "", "", "", "", 1)
	if err == nil || errors.Is(err, context.Canceled) {
		return err
	}
	return wrapHint(err, s.diagnose(err, creds, credSrc))
}

// diagnose names what a failed first request says is wrong: the endpoint
// is down (refused, unknown name, no answer), TLS is on one side only or
// the certificate is not trusted, the keys were refused, or the bucket is
// missing; each with what to fix.
func (s *Store) diagnose(err error, creds *credentials.Credentials, credSrc string) string {
	var er minio.ErrorResponse
	errors.As(err, &er)
	endpoint := s.core.Client.EndpointURL()
	where := fmt.Sprintf("bucket %q at %s", s.bucket, endpoint)
	var dnsErr *net.DNSError
	var recordErr tls.RecordHeaderError
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	switch kind := kindOf(err); {
	case er.Code == "NoSuchBucket":
		return fmt.Sprintf("%s does not exist: create it (e.g. `mc mb ALIAS/%s` or `aws s3 mb s3://%s`) or correct the bucket name", where, s.bucket, s.bucket)
	case er.Code == "InvalidAccessKeyId":
		return fmt.Sprintf("the server does not know the access key from %s: check the access key", credSrc)
	case er.Code == "SignatureDoesNotMatch":
		return fmt.Sprintf("the secret key from %s does not match its access key: check the secret key", credSrc)
	case er.StatusCode == http.StatusBadRequest && strings.Contains(er.Message, "HTTP request to an HTTPS server"):
		return fmt.Sprintf("TLS mismatch: %s speaks TLS (https) but s3vol reached it over plain http: turn TLS on (an https:// endpoint)", endpoint.Host)
	case kind == store.ErrAccessDenied:
		if v, cerr := creds.GetWithContext(nil); cerr == nil && v.SignerType.IsAnonymous() {
			return fmt.Sprintf("access to %s denied and no credentials were found in %s: give an access key and secret key, a credentials file, or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", where, credSrc)
		}
		return fmt.Sprintf("access to %s denied with %s: check the keys and that they may list, read and write the bucket", where, credSrc)
	case kind != store.ErrUnavailable:
		return fmt.Sprintf("checking %s", where)
	case errors.As(err, &recordErr) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Sprintf("TLS mismatch: %s speaks plain http but s3vol reached it over TLS (https): turn TLS off (an http:// endpoint)", endpoint.Host)
	case errors.As(err, &certErr) || errors.As(err, &unknownCA) || errors.As(err, &badHost):
		return fmt.Sprintf("the TLS certificate of %s is not trusted: install its CA on this host, or correct the endpoint's name", endpoint.Host)
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("the endpoint's host name %q does not resolve (DNS): check the endpoint address", dnsErr.Name)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("nothing listens at %s (connection refused): check the endpoint address and that the server is running", endpoint.Host)
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err) || strings.Contains(err.Error(), "request timed out"):
		return fmt.Sprintf("no answer from %s (timeout): check the endpoint address, the firewalls on the way, and that the server is not hung", endpoint.Host)
	default:
		return fmt.Sprintf("cannot reach %s: check the endpoint address, that the server is running, and the TLS setting (secure=%v)", where, s.cfg.Secure)
	}
}

// isTimeout reports whether a network error is a timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// wrapHint prefixes a store error's cause with a user-facing explanation.
func wrapHint(err error, hint string) error {
	var se *store.Error
	if errors.As(err, &se) {
		return store.NewError("connect", "", se.Kind, fmt.Errorf("%s: %w", hint, se.Err))
	}
	return store.NewError("connect", "", nil, fmt.Errorf("%s: %w", hint, err))
}

// String names the store without secrets, e.g. "s3://b (http://host:9000)".
func (s *Store) String() string { return s.name }

// call runs a request that moves no bulk data under RequestTimeout.
func (s *Store) call(ctx context.Context, op, key string, fn func(ctx context.Context) error) error {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	return wrapErr(op, key, ctx, cctx, fn(cctx))
}

// Stat returns the object's size, ETag, mtime and user metadata.
func (s *Store) Stat(ctx context.Context, key string) (store.Object, error) {
	if err := checkKey("stat", key); err != nil {
		return store.Object{}, err
	}
	var info minio.ObjectInfo
	err := s.call(ctx, "stat", key, func(ctx context.Context) (err error) {
		info, err = s.core.Client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
		return err
	})
	if err != nil {
		return store.Object{}, err
	}
	return objectFromInfo(key, info.Size, info), nil
}

// Delete removes one object; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := checkKey("delete", key); err != nil {
		return err
	}
	err := s.call(ctx, "delete", key, func(ctx context.Context) error {
		return s.core.Client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
	})
	if store.IsNotFound(err) {
		return nil
	}
	return err
}

// DeleteMany removes keys in batches of up to 1000 (one request each).
func (s *Store) DeleteMany(ctx context.Context, keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		if err := s.deleteBatch(ctx, keys[:n]); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

func (s *Store) deleteBatch(ctx context.Context, keys []string) error {
	objs := make(chan minio.ObjectInfo, len(keys))
	for _, k := range keys {
		if err := checkKey("delete", k); err != nil {
			return err
		}
		objs <- minio.ObjectInfo{Key: k}
	}
	close(objs)
	return s.call(ctx, "delete", keys[0], func(ctx context.Context) error {
		var first error
		// Read every result, even after a failure, so that minio-go's
		// goroutine can finish.
		for res := range s.core.Client.RemoveObjectsWithResult(ctx, s.bucket, objs, minio.RemoveObjectsOptions{}) {
			missing := kindOf(res.Err) == store.ErrNotFound
			if res.Err != nil && !missing && first == nil {
				first = fmt.Errorf("deleting %q: %w", res.ObjectName, res.Err)
			}
		}
		return first
	})
}

// checkKey rejects keys S3 cannot store before any request is made, and
// keys with a leading slash.
func checkKey(op, key string) error {
	if err := store.CheckKey(op, key); err != nil {
		return err
	}
	if key[0] == '/' {
		// MinIO silently drops a leading slash, so "/a" would alias "a".
		return store.NewError(op, key, store.ErrInvalidArgument,
			errors.New("key starts with \"/\": the S3 backend refuses such keys because some servers (MinIO) store them without the slash"))
	}
	return nil
}

// userMetadata turns store metadata into minio-go's, with the prefix set by
// us so that no key can pass as another header (minio-go sends keys that
// start with x-amz- unprefixed).
func userMetadata(op, key string, md map[string]string) (map[string]string, error) {
	if len(md) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(md))
	for k, v := range md {
		if k == "" || !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
			return nil, store.NewError(op, key, store.ErrInvalidArgument,
				fmt.Errorf("metadata %q: names must be HTTP header tokens and values printable text", k))
		}
		out["x-amz-meta-"+strings.ToLower(k)] = v
	}
	return out, nil
}

// objectFromInfo builds a store.Object from a response's headers.
func objectFromInfo(key string, size int64, info minio.ObjectInfo) store.Object {
	return store.Object{
		Key:          key,
		Size:         size,
		ETag:         strings.Trim(info.ETag, `"`),
		LastModified: info.LastModified,
		Metadata:     metadataFromHeader(info.Metadata),
	}
}

func metadataFromHeader(h http.Header) map[string]string {
	md := map[string]string{}
	const prefix = "x-amz-meta-"
	for k, v := range h {
		lk := strings.ToLower(k)
		if strings.HasPrefix(lk, prefix) && len(v) > 0 {
			md[lk[len(prefix):]] = v[0]
		}
	}
	return md
}

// lowerKeys copies metadata with lower-case keys, as a store returns it.
func lowerKeys(md map[string]string) map[string]string {
	out := make(map[string]string, len(md))
	for k, v := range md {
		out[strings.ToLower(k)] = v
	}
	return out
}

// now is the client's clock, used for the LastModified of a write whose
// reply carries no date (S3 returns none for PUT and multipart uploads).
func now() time.Time { return time.Now().UTC().Truncate(time.Second) }
