package storetest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/s3vol/s3vol/store"
)

// The object sizes every write path must carry intact: empty, one byte,
// one byte over a multipart part, and a large object of many parts.
var roundTripSizes = []int{0, 1, store.MinPartSize + 1, 64 << 20}

// testRoundTrip writes each size through each write path and reads it back.
func testRoundTrip(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	big := randomData(1, roundTripSizes[len(roundTripSizes)-1])
	writers := []struct {
		name  string
		write func(t *testing.T, ctx context.Context, s store.Store, key string, body []byte) store.Object
	}{
		{"KnownSize", func(t *testing.T, ctx context.Context, s store.Store, key string, body []byte) store.Object {
			return put(t, ctx, s, key, body, store.PutOptions{})
		}},
		{"UnknownSize", putUnknownSize},
		{"Multipart", putMultipart},
	}
	for _, w := range writers {
		for _, size := range roundTripSizes {
			if size == 0 && w.name == "Multipart" {
				continue // an upload needs a part; S3 refuses an empty one on some servers
			}
			t.Run(fmt.Sprintf("%s/%d", w.name, size), func(t *testing.T) {
				key := fmt.Sprintf("roundtrip/%s/%d", w.name, size)
				body := big[:size]
				before := time.Now()
				o := w.write(t, ctx, s, key, body)
				checkWritten(t, ctx, s, key, o, body, before)
				if err := s.Delete(ctx, key); err != nil {
					t.Fatalf("delete %q: %v", key, err)
				}
				wantGone(t, ctx, s, key)
			})
		}
	}
}

// checkWritten compares what the write returned, Stat and Get.
func checkWritten(t *testing.T, ctx context.Context, s store.Store, key string, o store.Object, body []byte, before time.Time) {
	t.Helper()
	if o.Key != key || o.Size != int64(len(body)) || o.ETag == "" {
		t.Fatalf("write returned %+v, want key %q, size %d and an ETag", o, key, len(body))
	}
	st, err := s.Stat(ctx, key)
	if err != nil {
		t.Fatalf("stat %q: %v", key, err)
	}
	if st.Size != o.Size || st.ETag != o.ETag {
		t.Fatalf("stat %q: size %d ETag %q, the write returned size %d ETag %q", key, st.Size, st.ETag, o.Size, o.ETag)
	}
	// Clocks of client and server may differ a little, never by an hour.
	if st.LastModified.Before(before.Add(-time.Hour)) || st.LastModified.After(time.Now().Add(time.Hour)) {
		t.Fatalf("stat %q: LastModified %v is not around now (%v)", key, st.LastModified, before)
	}
	got, g := get(t, ctx, s, key, store.GetOptions{})
	if !bytes.Equal(got, body) {
		t.Fatalf("get %q: %d bytes read back differ from the %d written", key, len(got), len(body))
	}
	if g.ETag != o.ETag || g.Size != o.Size {
		t.Fatalf("get %q: size %d ETag %q, want %d %q", key, g.Size, g.ETag, o.Size, o.ETag)
	}
}

// putUnknownSize writes through Put with size -1, from a reader that hides
// its length.
func putUnknownSize(t *testing.T, ctx context.Context, s store.Store, key string, body []byte) store.Object {
	t.Helper()
	r := struct{ io.Reader }{bytes.NewReader(body)}
	o, err := s.Put(ctx, key, r, -1, store.PutOptions{})
	if err != nil {
		t.Fatalf("put %q of unknown size: %v", key, err)
	}
	return o
}

// putMultipart uploads parts of MinPartSize, all at once and in reverse
// order, at most 4 in flight.
func putMultipart(t *testing.T, ctx context.Context, s store.Store, key string, body []byte) store.Object {
	t.Helper()
	mp, err := s.NewMultipart(ctx, key, store.PutOptions{})
	if err != nil {
		t.Fatalf("new multipart %q: %v", key, err)
	}
	n := (len(body) + store.MinPartSize - 1) / store.MinPartSize
	sem := make(chan struct{}, 4)
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	for p := n; p >= 1; p-- {
		part := body[(p-1)*store.MinPartSize : min(p*store.MinPartSize, len(body))]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[p] = mp.UploadPart(ctx, p, bytes.NewReader(part), int64(len(part)))
		}()
	}
	wg.Wait()
	for p, err := range errs {
		if err != nil {
			mp.Abort(ctx)
			t.Fatalf("upload part %d of %q: %v", p, key, err)
		}
	}
	o, err := mp.Complete(ctx)
	if err != nil {
		mp.Abort(ctx)
		t.Fatalf("complete %q: %v", key, err)
	}
	return o
}
