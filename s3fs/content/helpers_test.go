package content

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/internal/bufpool"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
	"github.com/s3vol/s3vol/store/localstore"
)

// part is the part size of every test: the smallest the store accepts, so
// that files of a few parts stay small.
const part = store.MinPartSize

// rig is an Env over a local store, with every call counted (Metered) and
// open to injected failures (faults). Env.Store is metered(faults(local)):
// the counts include the calls a fault failed.
type rig struct {
	env    *Env
	local  store.Store
	faults *faultstore.Store
	m      *store.Metered
	pool   *bufpool.Pool
}

// newRig makes a rig whose memory budget is budget bytes.
func newRig(t *testing.T, budget int64) *rig {
	t.Helper()
	local, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	faults := faultstore.New(local)
	m := store.NewMetered(faults)
	pool := bufpool.New(budget)
	r := &rig{
		local: local, faults: faults, m: m, pool: pool,
		env: &Env{
			Store: m, Buffers: pool, Log: testLogger(t), CacheDir: t.TempDir(),
			PartSize: part, UploadConcurrency: 4,
			ReadAheadMax: 32 << 20, ReadChunkMax: 8 << 20, KernelReadAhead: 1 << 20,
			RequestTimeout: 30 * time.Second, TransferTimeout: time.Minute,
		},
	}
	t.Cleanup(func() {
		// Read-ahead chunks dropped while being fetched are freed when
		// their fetch ends: wait for that, not longer than a fetch may take.
		deadline := time.Now().Add(r.env.TransferTimeout)
		for {
			used, _ := pool.InUse()
			if used == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d bytes of the memory budget still in use at the end of the test", used)
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	return r
}

// put stores data as key, past the meter and the faults.
func (r *rig) put(t *testing.T, key string, data []byte) store.Object {
	t.Helper()
	obj, err := r.local.Put(context.Background(), key, bytes.NewReader(data), int64(len(data)), store.PutOptions{})
	if err != nil {
		t.Fatalf("putting %s: %v", key, err)
	}
	return obj
}

// stored returns the object at key, read past the meter and the faults.
func (r *rig) stored(t *testing.T, key string) ([]byte, store.Object, error) {
	t.Helper()
	body, obj, err := r.local.Get(context.Background(), key, store.GetOptions{})
	if err != nil {
		return nil, obj, err
	}
	defer body.Close()
	data, err := io.ReadAll(body)
	return data, obj, err
}

// wantStored checks that key holds want.
func (r *rig) wantStored(t *testing.T, key string, want []byte) {
	t.Helper()
	got, _, err := r.stored(t, key)
	if err != nil {
		t.Fatalf("reading %s back: %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s holds %d bytes that differ from the %d expected (first difference at %d)",
			key, len(got), len(want), firstDiff(got, want))
	}
}

// wantAbsent checks that key is not in the store.
func (r *rig) wantAbsent(t *testing.T, key string) {
	t.Helper()
	if _, _, err := r.stored(t, key); !store.IsNotFound(err) {
		t.Fatalf("%s: %v; want it absent", key, err)
	}
}

// counts returns the requests counted since the last call, and resets.
func (r *rig) counts() map[string]int64 {
	c := r.m.Snapshot()
	r.m.Reset()
	return c
}

// wantCounts checks the counted requests: every kind named in want has
// that count, every other request kind is zero.
func wantCounts(t *testing.T, what string, got map[string]int64, want map[string]int64) {
	t.Helper()
	var bad []string
	for k, v := range got {
		if k == store.BytesRead || k == store.BytesWritten {
			if w, ok := want[k]; ok && v != w {
				bad = append(bad, k)
			}
			continue
		}
		if v != want[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		t.Errorf("%s: requests %v; want %v (differ in %s)", what, nonZero(got), want, strings.Join(bad, ", "))
	}
}

func nonZero(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// pattern is n pseudo-random bytes drawn from seed: different seeds and
// different places differ, so that a misplaced or stale block shows.
func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// testLogger logs to the test, so failures come with the engine's side of
// the story.
func testLogger(t *testing.T) logrus.FieldLogger {
	l := logrus.New()
	l.SetOutput(testWriter{t})
	l.SetLevel(logrus.DebugLevel)
	return l
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// readAll reads the whole of c.
func readAll(t *testing.T, c Local) []byte {
	t.Helper()
	buf := make([]byte, c.Length())
	n, err := c.ReadAt(context.Background(), buf, 0)
	if err != nil {
		t.Fatalf("reading the content back: %v", err)
	}
	return buf[:n]
}
