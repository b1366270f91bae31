package storetest

import (
	"slices"
	"testing"

	"github.com/s3vol/s3vol/store"
)

// The suite is only as good as its model of S3 listing: check the model
// against listings worked out by hand.
func TestExpectedList(t *testing.T) {
	keys := []string{"a", "a/b", "a/c/d", "a-", "a0", "b/x", "b/y/z"}
	cases := []struct {
		opts store.ListOptions
		want []string
		ok   bool
	}{
		{store.ListOptions{}, []string{"a", "a-", "a/b", "a/c/d", "a0", "b/x", "b/y/z"}, true},
		{store.ListOptions{Delimiter: "/"}, []string{"a", "a-", "P:a/", "a0", "P:b/"}, true},
		{store.ListOptions{Prefix: "a/", Delimiter: "/"}, []string{"a/b", "P:a/c/"}, true},
		{store.ListOptions{Prefix: "a", Delimiter: "/"}, []string{"a", "a-", "P:a/", "a0"}, true},
		{store.ListOptions{Prefix: "b/", StartAfter: "b/x"}, []string{"b/y/z"}, true},
		{store.ListOptions{Delimiter: "/", StartAfter: "a/"}, []string{"a0", "P:b/"}, false},
		{store.ListOptions{Delimiter: "/", StartAfter: "a/b"}, []string{"a0", "P:b/"}, false},
		{store.ListOptions{Delimiter: "/", StartAfter: "a-"}, []string{"P:a/", "a0", "P:b/"}, true},
		{store.ListOptions{Prefix: "c"}, nil, true},
		{store.ListOptions{Delimiter: "-"}, []string{"a", "P:a-", "a/b", "a/c/d", "a0", "b/x", "b/y/z"}, true},
	}
	for _, c := range cases {
		got, ok := ExpectedList(keys, c.opts)
		if !slices.Equal(got, c.want) || ok != c.ok {
			t.Errorf("ExpectedList %+v = %q, %v; want %q, %v", c.opts, got, ok, c.want, c.ok)
		}
	}
}

func TestLongKey(t *testing.T) {
	for _, n := range []int{6, 205, 206, 207, 1024} {
		k := longKey(n)
		if len(k) != n || k[len(k)-1] == '/' {
			t.Errorf("longKey(%d) has %d bytes and ends in %q", n, len(k), k[len(k)-1])
		}
	}
}
