package localstore_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/s3vol/s3vol/store"
)

// BenchmarkPut64MiB measures a whole-object Put: write, fsync, rename.
func BenchmarkPut64MiB(b *testing.B) {
	s := newStoreB(b)
	body := make([]byte, 64<<20)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := s.Put(context.Background(), "big", bytes.NewReader(body), int64(len(body)), store.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGet64MiB measures streaming a whole object.
func BenchmarkGet64MiB(b *testing.B) {
	s := newStoreB(b)
	ctx := context.Background()
	body := make([]byte, 64<<20)
	if _, err := s.Put(ctx, "big", bytes.NewReader(body), int64(len(body)), store.PutOptions{}); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		rc, _, err := s.Get(ctx, "big", store.GetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, rc)
		rc.Close()
	}
}

// BenchmarkListDelimited lists one directory of 1000 objects next to 100
// subdirectories of 10 objects each.
func BenchmarkListDelimited(b *testing.B) {
	s := newStoreB(b)
	ctx := context.Background()
	for i := range 1000 {
		k := fmt.Sprintf("d/%04d", i)
		if i%10 == 0 {
			for j := range 10 {
				sub := fmt.Sprintf("d/sub%04d/%d", i, j)
				if _, err := s.Put(ctx, sub, strings.NewReader("x"), 1, store.PutOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		}
		if _, err := s.Put(ctx, k, strings.NewReader("x"), 1, store.PutOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		n := 0
		for _, err := range s.List(ctx, store.ListOptions{Prefix: "d/", Delimiter: "/"}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 1100 {
			b.Fatalf("listed %d entries, want 1100", n)
		}
	}
}

func newStoreB(b *testing.B) store.Store { return mustNew(b, b.TempDir()) }
