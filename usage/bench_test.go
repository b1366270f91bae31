package usage

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/docker/go-plugins-helpers/volume"

	"github.com/s3vol/s3vol/driver"
	"github.com/s3vol/s3vol/internal/miniotest"
	"github.com/s3vol/s3vol/internal/testenv"
	"github.com/s3vol/s3vol/registry"
	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/s3store"
)

// scanObjects is the size of the volume scanned during the benchmark.
const scanObjects = 20000

// BenchmarkMountDuringScan measures what docker run -v asks of the plugin
// (Mount of a volume, then Unmount and its teardown), on MinIO, with and
// without the usage scan listing a volume of 20,000 objects over and
// over. It reports both times per mount and their ratio (scan/alone),
// which should stay within the noise: the scan is one LIST page at a time,
// at most 5 a second.
func BenchmarkMountDuringScan(b *testing.B) {
	testenv.NeedFUSE(b)
	srv := miniotest.Shared(b)
	ctx := context.Background()
	st, err := s3store.New(ctx, s3store.Config{Endpoint: srv.URL(), Bucket: srv.NewBucket(b),
		Region: srv.Region, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey})
	if err != nil {
		b.Fatal(err)
	}
	reg, err := registry.New(registry.Config{Meta: st, Data: st, Prefix: "meta/", Org: "acme", HostID: "bench", Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	dir := b.TempDir()
	drv, err := driver.New(driver.Config{Registry: reg, Data: st, MountRoot: filepath.Join(dir, "mnt"),
		CacheDir: filepath.Join(dir, "cache"), Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	drv.Start()
	<-drv.Started()
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		drv.Shutdown(sctx)
	}()
	for _, name := range []string{"big", "other"} {
		if err := drv.Create(&volume.CreateRequest{Name: name}); err != nil {
			b.Fatal(err)
		}
	}
	big, err := reg.Get(ctx, "big")
	if err != nil {
		b.Fatal(err)
	}
	fill(b, st, big.DataPrefix, scanObjects)

	mountOnce := func(i int) time.Duration {
		start := time.Now()
		id := fmt.Sprintf("bench-%d", i)
		if _, err := drv.Mount(&volume.MountRequest{Name: "other", ID: id}); err != nil {
			b.Fatal(err)
		}
		if err := drv.Unmount(&volume.UnmountRequest{Name: "other", ID: id}); err != nil {
			b.Fatal(err)
		}
		waitUnmounted(b, drv, "other")
		return time.Since(start)
	}
	phase := func(scan bool) time.Duration {
		var stop context.CancelFunc = func() {}
		var done chan struct{}
		if scan {
			s, err := New(Config{Registry: reg, Data: st, Entries: drv.Entries, Interval: time.Nanosecond, Idle: time.Millisecond, Logger: quiet()})
			if err != nil {
				b.Fatal(err)
			}
			var sctx context.Context
			sctx, stop = context.WithCancel(ctx)
			done = make(chan struct{})
			go func() { defer close(done); s.Run(sctx) }()
		}
		var total time.Duration
		for i := 0; i < b.N; i++ {
			total += mountOnce(i)
		}
		stop()
		if done != nil {
			<-done
		}
		return total / time.Duration(b.N)
	}
	b.ResetTimer()
	alone := phase(false)
	during := phase(true)
	b.StopTimer()
	b.ReportMetric(float64(alone.Microseconds())/1000, "ms/mount-alone")
	b.ReportMetric(float64(during.Microseconds())/1000, "ms/mount-during-scan")
	b.ReportMetric(float64(during)/float64(alone), "ratio")
}

// fill stores n empty objects under prefix, 16 at a time.
func fill(b *testing.B, st store.Store, prefix string, n int) {
	var wg sync.WaitGroup
	keys := make(chan string)
	var failed sync.Once
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				if _, err := st.Put(context.Background(), k, bytes.NewReader(nil), 0, store.PutOptions{}); err != nil {
					failed.Do(func() { b.Error(err) })
				}
			}
		}()
	}
	for i := range n {
		keys <- fmt.Sprintf("%sdir%02d/file-%05d", prefix, i%50, i)
	}
	close(keys)
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// waitUnmounted waits (bounded) until the driver has torn the mount of
// name down: the next mount then starts from nothing.
func waitUnmounted(b *testing.B, drv *driver.Driver, name string) {
	deadline := time.Now().Add(time.Minute)
	for {
		if _, mounted := drv.Stats().Mounts[name]; !mounted {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s still mounted a minute after its last unmount", name)
		}
		time.Sleep(time.Millisecond) // polling a condition, with a deadline
	}
}
