package storetest

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/s3vol/s3vol/store"
)

// testListMetadata: with ListOptions.WithMetadata a listing is the same as
// without, and every object's Metadata is either nil (unknown) or exactly
// its user metadata; a listing that carries metadata carries it for every
// object, empty for objects without any (its callers read a nil Metadata
// as "ask with Stat", so a store that filled it for some objects only
// would cost a HEAD for the rest, or hide the metadata of none).
func testListMetadata(t *testing.T, s store.Store) {
	ctx := testCtx(t)
	want := map[string]map[string]string{}
	for i, k := range listKeys {
		var md map[string]string
		if i%3 != 0 {
			md = map[string]string{"mode": fmt.Sprint(0o100644 + i), "mtime": fmt.Sprint(1700000000 + i)}
		}
		put(t, ctx, s, k, []byte(k), store.PutOptions{Metadata: md})
		want[k] = md
	}
	for _, prefix := range []string{"", "list/", "list/b", "list/b/d/"} {
		for _, delim := range []string{"", "/"} {
			for _, page := range []int{0, 2} {
				for _, start := range []string{"", "list/b-"} {
					opts := store.ListOptions{Prefix: prefix, Delimiter: delim, PageSize: page, StartAfter: start}
					plain := Names(listAll(t, ctx, s, opts))
					opts.WithMetadata = true
					got := listAll(t, ctx, s, opts)
					if g := Names(got); !slices.Equal(g, plain) {
						t.Errorf("list %+v:\n got %q\nwant %q (as without WithMetadata)", opts, g, plain)
					}
					must := slices.ContainsFunc(got, func(o store.Object) bool { return o.Metadata != nil })
					for _, o := range got {
						if !o.IsPrefix && (o.ETag == "" || o.LastModified.IsZero() || o.Size != int64(len(o.Key))) {
							t.Fatalf("listed with metadata %+v: want Size %d, an ETag and LastModified", o, len(o.Key))
						}
						checkListedMetadata(t, o, want[o.Key], must)
					}
				}
			}
		}
	}
}

func checkListedMetadata(t *testing.T, o store.Object, want map[string]string, must bool) {
	t.Helper()
	switch {
	case o.IsPrefix:
		if o.Metadata != nil {
			t.Errorf("common prefix %q has metadata %v", o.Key, o.Metadata)
		}
	case o.Metadata == nil:
		if must {
			t.Errorf("list with metadata: %q has none, but other objects of the listing have theirs", o.Key)
		}
	case !maps.Equal(o.Metadata, want) && (len(o.Metadata) != 0 || len(want) != 0):
		t.Errorf("list with metadata: %q has %v, want %v", o.Key, o.Metadata, want)
	}
}
