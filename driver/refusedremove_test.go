package driver

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/go-plugins-helpers/volume"
	"github.com/sirupsen/logrus"

	"github.com/s3vol/s3vol/registry"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/localstore"
)

// afterPut is a real store that runs a function after each successful Put
// of one key, while the caller waits: it places a step of the driver
// exactly between two writes of the registry.
type afterPut struct {
	store.Store
	key string
	mu  sync.Mutex
	fn  func()
}

func (s *afterPut) Put(ctx context.Context, key string, body io.Reader, size int64, opts store.PutOptions) (store.Object, error) {
	obj, err := s.Store.Put(ctx, key, body, size, opts)
	s.mu.Lock()
	fn := s.fn
	if err == nil && key == s.key {
		s.fn = nil
	} else {
		fn = nil
	}
	s.mu.Unlock()
	if fn != nil {
		fn()
	}
	return obj, err
}

// A delete refused because another host has the volume mounted marks it
// deleting for a moment. A cache refresh that reads the index in that
// moment (the background loop may run at any time) must not leave Docker
// seeing the volume as "deleting" after the refusal (seen in e2e's
// TestTwoHosts on a loaded machine).
func TestRefusedRemoveShowsTheVolumeReady(t *testing.T) {
	local, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := &afterPut{Store: local, key: "meta/orgs/default/index.json"}
	f := newFixture(t, fixtureOpts{store: st, refresh: time.Hour})
	f.create("v", nil)

	other, err := registry.New(registry.Config{Meta: local, Data: local, Prefix: "meta/", Org: "default", HostID: "host-o", Logger: logrus.NewEntry(logrus.New())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	ctx := context.Background()
	lease, err := other.Acquire(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lease.Release(ctx) })

	st.mu.Lock()
	st.fn = func() { // right after the delete marked the volume deleting
		if err := f.d.cache.refresh(ctx, f.d.reg); err != nil {
			t.Errorf("refresh: %v", err)
		}
	}
	st.mu.Unlock()
	err = f.d.Remove(&volume.RemoveRequest{Name: "v"})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("remove of a volume mounted on another host: %v", err)
	}
	res, err := f.d.Get(&volume.GetRequest{Name: "v"})
	if err != nil {
		t.Fatal(err)
	}
	if s := res.Volume.Status["state"]; s != "ready" {
		t.Fatalf("after the refused remove the volume shows as %v, want ready", s)
	}
}
