package observe

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/s3vol/s3vol/internal/bufpool"
)

var volumeMemoryDesc = prometheus.NewDesc(namespace+"_volume_memory_bytes",
	"Bytes of the memory budget held by a volume's (or view's) mounts: read-ahead and upload buffers. Their sum is s3vol_memory_in_use_bytes.",
	[]string{"volume"}, nil)

// volumeMemory holds one account of the memory budget per volume (see
// Metrics.VolumeBuffers), read at each scrape.
type volumeMemory struct {
	mu       sync.Mutex
	accounts map[string]*bufpool.Pool // by volume name
}

// VolumeBuffers returns what gives a mount of volume its share of the
// daemon's memory budget (volmount.Env.AccountBuffers): an account of the
// pool (bufpool.Pool.Account) that draws from the whole budget and counts
// what the volume's mounts hold, exported as s3vol_volume_memory_bytes.
// Every mount of one volume shares its account, kept until Forget; pool
// must be the daemon's one pool.
func (m *Metrics) VolumeBuffers(volume string) func(*bufpool.Pool) *bufpool.Pool {
	return func(pool *bufpool.Pool) *bufpool.Pool {
		m.memory.mu.Lock()
		defer m.memory.mu.Unlock()
		a, ok := m.memory.accounts[volume]
		if !ok {
			a = pool.Account()
			m.memory.accounts[volume] = a
		}
		return a
	}
}

func (v *volumeMemory) forget(volume string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.accounts, volume)
}

func (v *volumeMemory) Describe(ch chan<- *prometheus.Desc) { ch <- volumeMemoryDesc }

func (v *volumeMemory) Collect(ch chan<- prometheus.Metric) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for name, a := range v.accounts {
		inUse, _ := a.InUse()
		ch <- prometheus.MustNewConstMetric(volumeMemoryDesc, prometheus.GaugeValue, float64(inUse), name)
	}
}
