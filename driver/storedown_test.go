package driver

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
	"github.com/s3vol/s3vol/store/localstore"
)

// Issue 13.4: while the driver cannot know whether a volume exists (the
// store is down and the cache lacks the name), Get and Path must not answer
// "no such volume": dockerd would forget the volume and create a local one
// in its place. They answer with a transport error carrying the reason; a
// real "no such volume", said by the store, stays an ordinary error.
func TestGetCannotTellWhileStoreIsDown(t *testing.T) {
	local, err := localstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	faults := faultstore.New(local)
	state := t.TempDir()
	f := newFixture(t, fixtureOpts{store: faults, state: state, refresh: 50 * time.Millisecond})
	f.create("kept", nil)
	srv := serveDriver(t, f.d)

	// The store says "absent" while it answers.
	if err := callDriver(srv, "Get", "absent"); !isPluginError(err, "no such volume") {
		t.Fatalf("Get of a volume the store does not have: %v, want the plugin's no such volume", err)
	}

	faults.Add(faultstore.Rule{Err: store.ErrUnavailable})
	waitCond(t, "the cache never noticed the store is down", func() bool {
		f.d.cache.mu.RLock()
		defer f.d.cache.mu.RUnlock()
		return f.d.cache.lastErr != nil
	})
	for _, method := range []string{"Get", "Path"} {
		err := callDriver(srv, method, "absent")
		var nerr net.Error
		if !errors.As(err, &nerr) || !strings.Contains(err.Error(), "cannot tell whether volume") || !strings.Contains(err.Error(), "absent") {
			t.Fatalf("%s while the store is down: %v (%T), want a transport error that says it cannot tell", method, err, err)
		}
	}
	if err := callDriver(srv, "Get", "kept"); err != nil {
		t.Fatalf("Get of a cached volume while the store is down: %v", err)
	}

	// A restart while the store is down: the snapshot knows "kept" but
	// cannot vouch for a name it lacks, and the daemon's shutdown must not
	// overwrite it with a cache that never reached the store.
	snap := filepath.Join(state, "snapshot.json")
	before, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	g := newFixture(t, fixtureOpts{store: faults, state: state})
	gsrv := serveDriver(t, g.d)
	if err := callDriver(gsrv, "Get", "kept"); err != nil {
		t.Fatalf("restarted driver's Get of a volume in its snapshot: %v", err)
	}
	var nerr net.Error
	if err := callDriver(gsrv, "Get", "absent"); !errors.As(err, &nerr) {
		t.Fatalf("restarted driver's Get of a name its snapshot lacks, store down: %v, want a transport error", err)
	}
	g.d.cache.mu.Lock()
	g.d.cache.entries = nil // what a daemon that never loaded anything holds
	g.d.cache.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := g.d.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(snap)
	if err != nil || string(after) != string(before) {
		t.Fatalf("a driver that never reached the store rewrote the snapshot:\n%s\nwas:\n%s", after, before)
	}
	var s snapshotFile
	if err := json.Unmarshal(after, &s); err != nil || s.SavedAt.IsZero() {
		t.Fatalf("snapshot has no savedAt (%v): %s", err, after)
	}
}

// serveDriver serves d's protocol over HTTP, as the daemon does.
func serveDriver(t *testing.T, d *Driver) *httptest.Server {
	mux := http.NewServeMux()
	Register(mux, d)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// callDriver POSTs /VolumeDriver.<method> {"Name": name} as dockerd does
// and returns the transport error, or the plugin's {"Err"} as a
// pluginError.
func callDriver(srv *httptest.Server, method, name string) error {
	body, _ := json.Marshal(map[string]string{"Name": name})
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Post(srv.URL+PathPrefix+method, "application/json", strings.NewReader(string(body)))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var res struct{ Err string }
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return err
	}
	if res.Err != "" {
		return pluginError(res.Err)
	}
	return nil
}

type pluginError string

func (e pluginError) Error() string { return string(e) }

func isPluginError(err error, text string) bool {
	var perr pluginError
	return errors.As(err, &perr) && strings.Contains(string(perr), text)
}

func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
