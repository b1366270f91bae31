package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/s3vol/s3vol/store"
)

// listKeys exercise prefixes that end inside a component and neighbours
// that sort around "/" ("-" and "0" sort before and after it). An object
// that is also a "directory" (list/b and list/b/c) is left to UnusualKeys:
// MinIO does not list both.
var listKeys = []string{
	"list/a", "list/b/c", "list/b/d/e", "list/b/d/f", "list/b-", "list/b0",
	"list/c/x", "list/d", "list/e f", "list/é", "list/z/z/z", "other",
}

// testList compares listings against a reference model of S3's rules, over
// prefixes, delimiters, StartAfter values and page sizes.
func testList(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	putAll(t, ctx, s, listKeys, 8)
	prefixes := []string{"", "list/", "list/b", "list/b/", "list/b/d/", "list/x", "list/é", "lis"}
	starts := []string{"", "list/a", "list/b", "list/b/d/e", "list/b-", "list/b0", "list/c", "list/zz", "list/"}
	for _, prefix := range prefixes {
		for _, delim := range []string{"", "/"} {
			for _, start := range starts {
				want, ok := ExpectedList(listKeys, store.ListOptions{Prefix: prefix, Delimiter: delim, StartAfter: start})
				if !ok {
					continue // a case where S3 servers differ (see ExpectedList)
				}
				for _, page := range []int{0, 2} {
					opts := store.ListOptions{Prefix: prefix, Delimiter: delim, StartAfter: start, PageSize: page}
					got := listAll(t, ctx, s, opts)
					if g := Names(got); !slices.Equal(g, want) {
						t.Errorf("list %+v:\n got %q\nwant %q", opts, g, want)
					}
					checkListed(t, got)
				}
			}
		}
	}
}

// ExpectedList is what listing keys with opts must return, by S3's rules,
// in the notation of Names. With a delimiter and a StartAfter that falls
// inside a common prefix, S3 servers disagree on whether that prefix is
// listed again: ExpectedList then answers that it is not (the reading that
// lets a caller resume a listing from its last entry) and ok is false.
func ExpectedList(keys []string, opts store.ListOptions) (want []string, ok bool) {
	prefix, delim, start := opts.Prefix, opts.Delimiter, opts.StartAfter
	sorted := slices.Sorted(slices.Values(keys))
	var byItem, byKey []string // the two readings of StartAfter
	for _, k := range sorted {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		item := k
		if i := strings.Index(k[len(prefix):], delim); delim != "" && i >= 0 {
			item = "P:" + k[:len(prefix)+i+len(delim)]
		}
		if k > start && (len(byKey) == 0 || byKey[len(byKey)-1] != item) {
			byKey = append(byKey, item)
		}
		if strings.TrimPrefix(item, "P:") > start && (len(byItem) == 0 || byItem[len(byItem)-1] != item) {
			byItem = append(byItem, item)
		}
	}
	return byItem, slices.Equal(byItem, byKey)
}

// Names renders a listing as keys, with "P:" before common prefixes.
func Names(objs []store.Object) []string {
	var out []string
	for _, o := range objs {
		if o.IsPrefix {
			out = append(out, "P:"+o.Key)
		} else {
			out = append(out, o.Key)
		}
	}
	return out
}

// checkListed checks the fields a listed object carries.
func checkListed(t *testing.T, objs []store.Object) {
	t.Helper()
	for _, o := range objs {
		if o.IsPrefix {
			continue
		}
		if o.ETag == "" || o.LastModified.IsZero() || o.Metadata != nil || o.Size != int64(len(o.Key)) {
			t.Fatalf("listed %+v: want Size %d (the test's body), an ETag, LastModified and no Metadata", o, len(o.Key))
		}
	}
}

// putAll stores every key with the key as its body, workers at a time.
func putAll(t *testing.T, ctx context.Context, s store.Store, keys []string, workers int) {
	t.Helper()
	work := make(chan string)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range work {
				if _, err := s.Put(ctx, k, strings.NewReader(k), int64(len(k)), store.PutOptions{}); err != nil {
					errs <- fmt.Errorf("put %q: %w", k, err)
					return
				}
			}
		}()
	}
feed:
	for _, k := range keys {
		select {
		case work <- k:
		case err := <-errs:
			errs <- err
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
}

// testListMany lists more keys than one page holds, with and without a
// delimiter, so pagination must carry over between pages.
func testListMany(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	var keys []string
	for i := range 1000 {
		keys = append(keys, fmt.Sprintf("many/%04d", i))
	}
	for i := range 100 {
		keys = append(keys, fmt.Sprintf("many/%04d-sub/x", i*10))
	}
	putAll(t, ctx, s, keys, 16)
	for _, opts := range []store.ListOptions{
		{Prefix: "many/"},
		{Prefix: "many/", PageSize: 7},
		{Prefix: "many/", Delimiter: "/"},
		{Prefix: "many/", Delimiter: "/", PageSize: 300},
		{Prefix: "many/", StartAfter: "many/0050"},
	} {
		want, _ := ExpectedList(keys, opts)
		got := Names(listAll(t, ctx, s, opts))
		if len(want) <= 1000 || !slices.Equal(got, want) {
			t.Errorf("list %+v: got %d entries, want %d (over 1000); first difference at %d", opts, len(got), len(want), firstDiff(got, want))
		}
	}
	top := Names(listAll(t, ctx, s, store.ListOptions{Delimiter: "/"}))
	if !slices.Equal(top, []string{"P:many/"}) {
		t.Errorf("top-level delimited listing: got %q, want [P:many/]", top)
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// testListStop stops iterating early: the iterator must respect it.
func testListStop(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	putAll(t, ctx, s, []string{"s/1", "s/2", "s/3", "s/4"}, 4)
	var got []string
	for o, err := range s.List(ctx, store.ListOptions{Prefix: "s/", PageSize: 1}) {
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		got = append(got, o.Key)
		if len(got) == 2 {
			break
		}
	}
	if !slices.Equal(got, []string{"s/1", "s/2"}) {
		t.Fatalf("got %q, want the first two keys", got)
	}
}
