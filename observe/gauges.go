package observe

import "github.com/prometheus/client_golang/prometheus"

// Gauges is the daemon's state at one moment, read at each scrape. Every
// field is read from memory: a scrape never waits on the store.
type Gauges struct {
	MemoryInUse  int64 // bytes of the buffer budget handed out
	MemoryBudget int64 // the budget's size in bytes
	// Mounts holds the uses (containers) of each entry (volume or view)
	// mounted on this host, by its name.
	Mounts map[string]int
	Org    OrgUsage
	// StagedFiles and StagedBytes are the local files the mounts hold
	// (staging, spill, read-ahead) and the disk space they take (see
	// StagedOnDisk).
	StagedFiles int
	StagedBytes int64
}

// OrgUsage is an organization's volume count against its limit.
type OrgUsage struct {
	Name  string
	Used  int
	Limit int
	Known bool // false until the registry has been read
}

var (
	memoryInUseDesc = prometheus.NewDesc(namespace+"_memory_in_use_bytes",
		"Bytes of the memory budget handed out to data buffers.", nil, nil)
	memoryBudgetDesc = prometheus.NewDesc(namespace+"_memory_budget_bytes",
		"Size of the memory budget for data buffers (S3VOL_MEMORY).", nil, nil)
	mountsDesc = prometheus.NewDesc(namespace+"_mounted",
		"1 for each volume or view mounted on this host.", []string{"volume"}, nil)
	mountUsesDesc = prometheus.NewDesc(namespace+"_mount_uses",
		"Uses (containers) of each volume or view mounted on this host.", []string{"volume"}, nil)
	stagedFilesDesc = prometheus.NewDesc(namespace+"_staged_files",
		"Local files the mounts hold open: staging files of files modified in place, spilled upload parts, read-ahead.", nil, nil)
	stagedBytesDesc = prometheus.NewDesc(namespace+"_staged_bytes",
		"Disk space taken by the mounts' local files (S3VOL_CACHE_DIR).", nil, nil)
	orgUsedDesc = prometheus.NewDesc(namespace+"_org_volumes",
		"Volumes of the organization, every state.", []string{"org"}, nil)
	orgLimitDesc = prometheus.NewDesc(namespace+"_org_volume_limit",
		"The organization's volume limit.", []string{"org"}, nil)
)

// gaugeCollector exports a Gauges snapshot taken at each scrape.
type gaugeCollector struct{ read func() Gauges }

// Watch exports the gauges that read returns; read is called at every
// scrape and must answer from memory.
func (m *Metrics) Watch(read func() Gauges) {
	m.reg.MustRegister(gaugeCollector{read})
}

func (c gaugeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{memoryInUseDesc, memoryBudgetDesc, stagedFilesDesc, stagedBytesDesc, mountsDesc, mountUsesDesc, orgUsedDesc, orgLimitDesc} {
		ch <- d
	}
}

func (c gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	g := c.read()
	ch <- prometheus.MustNewConstMetric(memoryInUseDesc, prometheus.GaugeValue, float64(g.MemoryInUse))
	ch <- prometheus.MustNewConstMetric(memoryBudgetDesc, prometheus.GaugeValue, float64(g.MemoryBudget))
	ch <- prometheus.MustNewConstMetric(stagedFilesDesc, prometheus.GaugeValue, float64(g.StagedFiles))
	ch <- prometheus.MustNewConstMetric(stagedBytesDesc, prometheus.GaugeValue, float64(g.StagedBytes))
	for name, uses := range g.Mounts {
		ch <- prometheus.MustNewConstMetric(mountsDesc, prometheus.GaugeValue, 1, name)
		ch <- prometheus.MustNewConstMetric(mountUsesDesc, prometheus.GaugeValue, float64(uses), name)
	}
	if g.Org.Known {
		ch <- prometheus.MustNewConstMetric(orgUsedDesc, prometheus.GaugeValue, float64(g.Org.Used), g.Org.Name)
		ch <- prometheus.MustNewConstMetric(orgLimitDesc, prometheus.GaugeValue, float64(g.Org.Limit), g.Org.Name)
	}
}
