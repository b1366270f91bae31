package driver

import (
	"strings"
	"testing"

	"github.com/docker/go-plugins-helpers/volume"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
	"github.com/s3vol/s3vol/store/localstore"
)

// Issue 13 (fault store): a Create or Remove whose store call fails tells
// Docker why, in a sentence, and works once the store does.
func TestCreateRemoveWithStoreFaults(t *testing.T) {
	local, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	faults := faultstore.New(local)
	f := newFixture(t, fixtureOpts{store: faults})

	faults.Add(faultstore.Rule{Op: faultstore.OpPut, Err: store.ErrUnavailable})
	err = f.d.Create(&volume.CreateRequest{Name: "v"})
	if err == nil || !strings.Contains(err.Error(), `"v"`) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("create with the store failing: %v, want a message naming the volume and the unreachable store", err)
	}
	faults.Clear()
	f.create("v", nil)
	if _, err := f.d.Get(&volume.GetRequest{Name: "v"}); err != nil {
		t.Fatalf("get after the create: %v", err)
	}

	faults.Add(faultstore.Rule{Op: faultstore.OpPut, Key: "meta/orgs/default/index.json", Err: store.ErrUnavailable})
	err = f.d.Remove(&volume.RemoveRequest{Name: "v"})
	if err == nil || !strings.Contains(err.Error(), `"v"`) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("remove with the store failing: %v, want a message naming the volume and the unreachable store", err)
	}
	faults.Clear()
	mp := f.mount("v", "c1") // the failed remove left it usable
	f.unmount("v", "c1")
	f.waitUnmounted(mp)
	if err := f.d.Remove(&volume.RemoveRequest{Name: "v"}); err != nil {
		t.Fatalf("remove once the store works: %v", err)
	}
}
