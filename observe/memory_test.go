package observe

import (
	"context"
	"testing"

	"github.com/s3vol/s3vol/internal/bufpool"
)

// Each volume's mounts draw from an account of the one pool: what they hold
// is exported under the volume, read at scrape time; two mounts of a volume
// share its account; Forget drops the volume's series.
func TestVolumeMemoryIsReadFromTheAccounts(t *testing.T) {
	m := New()
	pool := bufpool.New(8 << 20)
	first, second := m.VolumeBuffers("busy")(pool), m.VolumeBuffers("busy")(pool)
	m.VolumeBuffers("idle")(pool)
	a, err := first.Get(context.Background(), 2<<20)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := second.TryGet(1 << 20)
	base := serve(t, m, NewHealth())
	s := scrape(t, base)
	if got := value(t, s, "s3vol_volume_memory_bytes", "volume", "busy"); got != 3<<20 {
		t.Errorf("memory under busy %v, want %d (both mounts' buffers)", got, 3<<20)
	}
	if got := value(t, s, "s3vol_volume_memory_bytes", "volume", "idle"); got != 0 {
		t.Errorf("memory under idle %v, want 0", got)
	}
	if now, _ := pool.InUse(); now != 3<<20 {
		t.Errorf("the pool has %d bytes in use, want the volumes' total %d", now, 3<<20)
	}
	first.Put(a)
	second.Put(b)
	if got := value(t, scrape(t, base), "s3vol_volume_memory_bytes", "volume", "busy"); got != 0 {
		t.Errorf("memory under busy %v after its buffers came back, want 0", got)
	}
	m.Forget("busy")
	s = scrape(t, base)
	if _, ok := s.Value("s3vol_volume_memory_bytes", "volume", "busy"); ok {
		t.Error("the memory series of busy is still exported after Forget")
	}
	if _, ok := s.Value("s3vol_volume_memory_bytes", "volume", "idle"); !ok {
		t.Error("Forget of busy dropped the memory series of idle")
	}
}
