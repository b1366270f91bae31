package driver

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/go-plugins-helpers/volume"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/localstore"
)

// gateStore is a real store whose lease writes can be held at a gate, so
// that a test can act while a Mount is in the middle of its setup.
type gateStore struct {
	store.Store
	mu      sync.Mutex
	armed   bool
	entered chan struct{} // closed when a lease write reaches the gate
	open    chan struct{} // closed to let it through
}

func newGateStore(t *testing.T) *gateStore {
	st, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &gateStore{Store: st}
}

// arm holds the next lease write until release is called.
func (g *gateStore) arm() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.armed, g.entered, g.open = true, make(chan struct{}), make(chan struct{})
}

func (g *gateStore) release() { close(g.open) }

func (g *gateStore) Put(ctx context.Context, key string, r io.Reader, size int64, o store.PutOptions) (store.Object, error) {
	g.mu.Lock()
	hold := g.armed && strings.Contains(key, "/leases/")
	if hold {
		g.armed = false
		close(g.entered)
	}
	g.mu.Unlock()
	if hold {
		<-g.open
	}
	return g.Store.Put(ctx, key, r, size, o)
}

// A Mount that gives up while another Mount of the same volume is setting
// it up undoes only its own count; the setup's outcome then tears the
// mount down at the last Unmount as usual.
func TestMountGivingUpDuringSetup(t *testing.T) {
	g := newGateStore(t)
	f := newFixture(t, fixtureOpts{store: g})
	f.create("v", nil)
	first := gatedMount(f, g, "v", "c1")
	// The setup is held at the gate: the second caller, whose context is
	// already done, can only give up.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.d.acquire(ctx, "v", "c2"); !errors.Is(err, context.Canceled) {
		t.Fatalf("acquire with a cancelled context during another's setup: %v; want context.Canceled", err)
	}
	if n := f.d.localUses("v"); n != 1 {
		t.Fatalf("%d uses while the setup is held, after the second Mount gave up; want 1", n)
	}
	g.release()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := f.d.localUses("v"); n != 1 {
		t.Fatalf("%d uses after one Mount succeeded and one gave up; want 1", n)
	}
	mp := f.d.mountpoint("v")
	f.unmount("v", "c1")
	f.waitUnmounted(mp)
	if ls := f.leases("v"); len(ls) != 0 {
		t.Fatalf("leases left after the last unmount: %+v", ls)
	}
}

// Shutdown while a Mount is being set up unmounts it once it is mounted
// and releases its lease, instead of waiting out its context.
func TestShutdownDuringMount(t *testing.T) {
	g := newGateStore(t)
	f := newFixture(t, fixtureOpts{store: g})
	waiting := make(chan string, 1)
	f.d.onShutdownWait = func(name string) {
		select {
		case waiting <- name:
		default:
		}
	}
	f.create("v", nil)
	mounted := gatedMount(f, g, "v", "c1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- f.d.Shutdown(ctx) }()
	// Let the setup go on only once Shutdown waits for it.
	select {
	case name := <-waiting:
		if name != "v" {
			t.Fatalf("Shutdown waits for the setup of %q, want v", name)
		}
	case <-ctx.Done():
		t.Fatal("Shutdown never waited for the mount being set up")
	}
	g.release()
	if err := <-mounted; err != nil {
		t.Fatal(err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("shutdown with a mount in flight: %v", err)
	}
	if ms, _ := mountsUnder(f.root); len(ms) > 0 {
		t.Fatalf("mounts left after shutdown: %v", ms)
	}
	if ls := f.leases("v"); len(ls) != 0 {
		t.Fatalf("leases left after shutdown: %+v", ls)
	}
}

// gatedMount starts a Mount and returns once its setup is held at the
// gate (writing the lease); the channel gets the Mount's outcome.
func gatedMount(f *fixture, g *gateStore, name, id string) <-chan error {
	g.arm()
	done := make(chan error, 1)
	go func() {
		_, err := f.d.Mount(&volume.MountRequest{Name: name, ID: id})
		done <- err
	}()
	<-g.entered
	return done
}
