package e2e

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/s3vol/s3vol/internal/dockertest"
)

// status is a volume's Status as `docker volume inspect` shows it.
func status(t *testing.T, d *dockertest.Docker, vol string) map[string]any {
	t.Helper()
	out := d.Must(t, "volume", "inspect", "--format", "{{json .Status}}", vol)
	var s map[string]any
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("volume %s: status %q is not JSON: %v", vol, out, err)
	}
	return s
}

// volumeNames lists the volumes of driver on engine d.
func volumeNames(t *testing.T, d *dockertest.Docker, driver string) []string {
	t.Helper()
	return strings.Fields(d.Must(t, "volume", "ls", "-q", "--filter", "driver="+driver))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// calls counts the Docker calls of method on volume that the host's driver
// answered successfully, from its log.
func (h *host) calls(method, volume string) int {
	field := func(k, v string) *regexp.Regexp {
		return regexp.MustCompile(`(^|\s)` + k + `=` + regexp.QuoteMeta(v) + `(\s|$)`)
	}
	m, vol := field("method", method), field("volume", volume)
	n := 0
	for _, line := range strings.Split(h.log(), "\n") {
		if strings.Contains(line, "docker call ok") && m.MatchString(line) && vol.MatchString(line) {
			n++
		}
	}
	return n
}

// eventually polls cond every 100 ms until it holds, failing the test with
// what after timeout. It is for effects that are asynchronous by design
// (cache refresh, grace periods, background purges), not for timing.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// keys lists the object keys under prefix in the env's bucket.
func (e *env) keys(t *testing.T, prefix string) []string {
	t.Helper()
	c, err := e.srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []string
	for obj := range c.ListObjects(ctx, e.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("listing %s: %v", prefix, obj.Err)
		}
		out = append(out, obj.Key)
	}
	return out
}

// object reads one object of the env's bucket.
func (e *env) object(t *testing.T, key string) string {
	t.Helper()
	c, err := e.srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	obj, err := c.GetObject(ctx, e.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	return string(b)
}

// dataPrefix is where a volume's files live in the bucket: the registry
// derives it from the organization and the volume's id.
func dataPrefix(t *testing.T, d *dockertest.Docker, vol string) string {
	t.Helper()
	s := status(t, d, vol)
	id, _ := s["id"].(string)
	org, _ := s["org"].(string)
	if id == "" || org == "" {
		t.Fatalf("volume %s: status %v lacks id or org", vol, s)
	}
	return org + "/" + id + "/"
}

// mounted reports whether anything is mounted under the host's mount root.
func (h *host) mounted() bool {
	b, err := readMountinfo()
	if err != nil {
		return false
	}
	return strings.Contains(b, " "+h.mountRoot+"/")
}

func readMountinfo() (string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	return string(b), err
}
