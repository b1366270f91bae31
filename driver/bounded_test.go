package driver

import (
	"context"
	"testing"
	"time"

	"github.com/docker/go-plugins-helpers/volume"

	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/store/s3store"
)

// TestHungStoreBoundsDockerCalls pauses MinIO (SIGSTOP: nothing answers,
// nothing refuses) and checks that every Docker call returns within its
// bound: Create, Remove and Mount fail within CallTimeout, Get, List and
// Path answer from the cache within cacheWait, Unmount at once. The store's
// own request timeout is far longer: the driver must bound its calls
// itself. The deadlines are generous (three times the bound plus slack):
// this checks that calls end, not how fast.
func TestHungStoreBoundsDockerCalls(t *testing.T) {
	srv := pausableMinio(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := s3store.New(ctx, s3store.Config{
		Endpoint: srv.URL(), Bucket: srv.NewBucket(t), Region: srv.Region,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		RequestTimeout: 5 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	const bound = 3 * time.Second
	f := newFixture(t, fixtureOpts{store: st, call: bound, grace: time.Hour})
	f.create("used", nil)
	f.create("idle", nil)
	f.mount("used", "c1")

	if err := srv.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := srv.Resume(); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer resume()

	calls := []struct {
		name    string
		bound   time.Duration
		wantErr bool
		call    func() error
	}{
		{"Create", bound, true, func() error { return f.d.Create(&volume.CreateRequest{Name: "new"}) }},
		{"Remove", bound, true, func() error { return f.d.Remove(&volume.RemoveRequest{Name: "idle"}) }},
		{"Mount", bound, true, func() error {
			_, err := f.d.Mount(&volume.MountRequest{Name: "idle", ID: "c2"})
			return err
		}},
		{"Get", cacheWait, false, func() error { _, err := f.d.Get(&volume.GetRequest{Name: "used"}); return err }},
		{"List", cacheWait, false, func() error { _, err := f.d.List(); return err }},
		{"Path", cacheWait, false, func() error { _, err := f.d.Path(&volume.PathRequest{Name: "used"}); return err }},
		{"Unmount", bound, false, func() error { return f.d.Unmount(&volume.UnmountRequest{Name: "used", ID: "c1"}) }},
	}
	for _, c := range calls {
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- c.call() }()
		limit := 3*c.bound + 10*time.Second
		select {
		case err := <-done:
			t.Logf("%s: %v after %v", c.name, err, time.Since(start).Round(time.Millisecond))
			if (err != nil) != c.wantErr {
				t.Errorf("%s with the store hung: %v, want an error: %v", c.name, err, c.wantErr)
			}
		case <-time.After(limit):
			t.Errorf("%s with the store hung: still blocked after %v (bound %v)", c.name, limit, c.bound)
		}
	}

	resume()
	f.create("after", nil)
	f.mount("idle", "c3")
	f.unmount("idle", "c3")
}

// pausableMinio starts a MinIO of the test's own, which it may pause.
func pausableMinio(t *testing.T) *miniotest.Server {
	t.Helper()
	miniotest.Shared(t).NeedLocal(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := miniotest.Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}
