package localstore_test

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/storetest"
)

// Deletes remove the directories they empty, even while other writers
// keep creating objects in the same directories.
func TestDeletePrunesDirectories(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				key := fmt.Sprintf("p/q/%d/r/%d", i%3, w)
				if _, err := s.Put(ctx, key, strings.NewReader("x"), 1, store.PutOptions{}); err != nil {
					t.Errorf("put %q: %v", key, err)
					return
				}
				if err := s.Delete(ctx, key); err != nil {
					t.Errorf("delete %q: %v", key, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	long := "deep/" + strings.Repeat("L", 300) + "/x"
	if _, err := s.Put(ctx, long, strings.NewReader("x"), 1, store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, long); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(s.Dir(), "objects"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 0 {
		t.Fatalf("objects/ still holds %d entries after every key was deleted, first %q", len(ents), ents[0].Name())
	}
}

// A delimited listing reads the prefix's directory and only peeks into
// subdirectories: a subtree that cannot be decoded does not disturb it,
// while a full listing, which must decode it, reports the problem.
func TestDelimitedListingStaysShallow(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, k := range []string{"big/obj", "big/deep/x", "top"} {
		if _, err := s.Put(ctx, k, strings.NewReader(k), int64(len(k)), store.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A hashed entry whose recorded name cannot be read.
	hash := strings.Repeat("ab", 32)
	if err := os.Mkdir(filepath.Join(s.Dir(), "names", hash), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir(), "objects", "big.d", "deep.d", hash+".lo"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		opts store.ListOptions
		want []string
	}{
		{store.ListOptions{Delimiter: "/"}, []string{"P:big/", "top"}},
		{store.ListOptions{Prefix: "big/", Delimiter: "/"}, []string{"P:big/deep/", "big/obj"}},
	} {
		var got []store.Object
		for o, err := range s.List(ctx, c.opts) {
			if err != nil {
				t.Fatalf("list %+v: %v", c.opts, err)
			}
			got = append(got, o)
		}
		if g := storetest.Names(got); !slices.Equal(g, c.want) {
			t.Fatalf("list %+v: got %q, want %q", c.opts, g, c.want)
		}
	}
	var lerr error
	for _, err := range s.List(ctx, store.ListOptions{}) {
		lerr = err
	}
	if lerr == nil {
		t.Fatalf("a full listing through the undecodable entry reported no error")
	}
}

// Random keys over a tiny alphabet (so prefixes, delimiters and
// StartAfter collide often) must list exactly as the S3 model says, with
// any delimiter and in the cases where S3 servers disagree too.
func TestListMatchesModel(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		b := make([]byte, 1+rng.IntN(6))
		for i := range b {
			b[i] = "ab/-."[rng.IntN(5)]
		}
		return string(b)
	}
	seen := map[string]bool{}
	for range 300 {
		k := word()
		if seen[k] {
			continue
		}
		seen[k] = true
		if _, err := s.Put(ctx, k, strings.NewReader(k), int64(len(k)), store.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	keys := slices.Collect(func(yield func(string) bool) {
		for k := range seen {
			if !yield(k) {
				return
			}
		}
	})
	for range 500 {
		opts := store.ListOptions{
			Delimiter: []string{"", "/", "-", "a/", "//"}[rng.IntN(5)],
		}
		if rng.IntN(3) > 0 {
			w := word()
			opts.Prefix = w[:rng.IntN(len(w)+1)]
		}
		if rng.IntN(2) > 0 {
			opts.StartAfter = word()
		}
		want, _ := storetest.ExpectedList(keys, opts)
		var got []store.Object
		for o, err := range s.List(ctx, opts) {
			if err != nil {
				t.Fatalf("list %+v: %v", opts, err)
			}
			got = append(got, o)
		}
		if g := storetest.Names(got); !slices.Equal(g, want) {
			t.Fatalf("list %+v:\n got %q\nwant %q", opts, g, want)
		}
	}
}

// ETags follow S3: MD5 of the content for a Put, MD5 of the part MD5s
// plus "-N" for a multipart upload, unchanged by a copy.
func TestETags(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	body := []byte("hello, world")
	o, err := s.Put(ctx, "p", strings.NewReader(string(body)), int64(len(body)), store.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum(body)
	if o.ETag != hex.EncodeToString(sum[:]) {
		t.Errorf("put ETag %s, want the MD5 %x", o.ETag, sum)
	}
	c, err := s.Copy(ctx, "p", "c", store.CopyOptions{})
	if err != nil || c.ETag != o.ETag {
		t.Errorf("copy ETag %s (err %v), want the source's %s", c.ETag, err, o.ETag)
	}

	p1, p2 := make([]byte, store.MinPartSize), []byte("tail")
	mp, err := s.NewMultipart(ctx, "m", store.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	uploadParts(t, mp, p1, p2)
	m, err := mp.Complete(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s1, s2 := md5.Sum(p1), md5.Sum(p2)
	whole := md5.Sum(append(s1[:], s2[:]...))
	if want := hex.EncodeToString(whole[:]) + "-2"; m.ETag != want {
		t.Errorf("multipart ETag %s, want %s", m.ETag, want)
	}
}

func uploadParts(t *testing.T, mp store.Multipart, parts ...[]byte) {
	t.Helper()
	for i, p := range parts {
		if err := mp.UploadPart(context.Background(), i+1, strings.NewReader(string(p)), int64(len(p))); err != nil {
			t.Fatalf("part %d: %v", i+1, err)
		}
	}
}

// Listings running while deletes prune directories never fail: a folder
// removed between a listing's open and its read is simply empty, as a
// vanished prefix is on S3.
func TestListWhilePruning(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.Put(ctx, "keep", strings.NewReader("x"), 1, store.PutOptions{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				key := fmt.Sprintf("churn/%d/%d/leaf", w, i%5)
				if _, err := s.Put(ctx, key, strings.NewReader("x"), 1, store.PutOptions{}); err != nil {
					t.Errorf("put %q: %v", key, err)
					return
				}
				if err := s.Delete(ctx, key); err != nil {
					t.Errorf("delete %q: %v", key, err)
					return
				}
			}
		}()
	}
	for i := 0; i < 2000 && !t.Failed(); i++ {
		opts := store.ListOptions{}
		if i%2 == 1 {
			opts = store.ListOptions{Prefix: "churn/", Delimiter: "/"}
		}
		for _, err := range s.List(ctx, opts) {
			if err != nil {
				t.Errorf("listing %+v while directories are pruned: %v", opts, err)
				break
			}
		}
	}
	close(done)
	wg.Wait()
}
