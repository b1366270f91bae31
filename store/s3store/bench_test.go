package s3store

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"

	"github.com/s3vol/s3vol/store"
)

// The "raw" figures the filesystem is compared with: one 256 MiB object
// read or written straight through the store on the harness's MinIO.
const benchSize = 256 << 20

// BenchmarkRawGet reads a 256 MiB object in one ranged-less GET stream.
func BenchmarkRawGet(b *testing.B) {
	s := newStore(b)
	ctx := context.Background()
	data := randomBytes(1, benchSize)
	if _, err := s.Put(ctx, "bench", bytes.NewReader(data), benchSize, store.PutOptions{}); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		r, _, err := s.Get(ctx, "bench", store.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, r, buf)
		r.Close()
		if err != nil || n != benchSize {
			b.Fatalf("read %d bytes: %v", n, err)
		}
	}
}

// BenchmarkRawPutMultipart writes a 256 MiB object as a multipart upload
// of 8 MiB parts, four in flight, straight from memory.
func BenchmarkRawPutMultipart(b *testing.B) {
	s := newStore(b)
	ctx := context.Background()
	data := randomBytes(2, benchSize)
	const partSize, inflight = store.DefaultPartSize, store.DefaultConcurrency
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		mp, err := s.NewMultipart(ctx, "bench", store.PutOptions{})
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, benchSize/partSize)
		slots := make(chan struct{}, inflight)
		for i := 0; i*partSize < benchSize; i++ {
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-slots; wg.Done() }()
				p := data[i*partSize : min((i+1)*partSize, benchSize)]
				if err := mp.UploadPart(ctx, i+1, bytes.NewReader(p), int64(len(p))); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
		if _, err := mp.Complete(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutStream writes a 256 MiB object of unknown size through Put,
// i.e. store.Writer with its defaults: what a streaming file write costs.
func BenchmarkPutStream(b *testing.B) {
	s := newStore(b)
	ctx := context.Background()
	data := randomBytes(3, benchSize)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Put(ctx, "bench", io.MultiReader(bytes.NewReader(data)), -1, store.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
