package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/s3vol/s3vol/store"
)

// metadata: workload 6. `ls -f` and `ls -l` of one directory of many
// objects, cold (a fresh mount) and warm (right after), against a raw
// paginated LIST; and `find` over a tree, against a raw recursive LIST.
// The real coreutils and findutils binaries run against the mount.
func (b *bench) metadata() error {
	n := b.sz.ListEntries
	if err := b.putMany(n, func(i int) string { return fmt.Sprintf("ls/f%05d", i) }, 100); err != nil {
		return fmt.Errorf("creating %d objects: %w", n, err)
	}
	rawList, pages, err := b.rawList("ls/", "/", false)
	if err != nil {
		return err
	}
	rawNote := fmt.Sprintf("raw LIST of %d keys: %d pages", n, pages)
	// What the mount must fetch to show modes, owners and times without a
	// HEAD per entry: the listing with metadata (MinIO's extension).
	rawMeta, _, err := b.rawList("ls/", "/", true)
	if err != nil {
		return err
	}
	rawMetaNote := fmt.Sprintf("%s; the same LIST with metadata, which ls -l needs, took %.0f ms", rawNote, ms(rawMeta))

	for _, c := range []struct {
		metric string
		args   []string
	}{
		{"ls -f", []string{"-f"}},
		{"ls -l", []string{"-l"}},
	} {
		if err := b.mount(); err != nil {
			return err
		}
		dir := b.path("ls")
		var cold, warm time.Duration
		coldReqs, err := b.counted(func() (err error) {
			cold, err = timed(func() error { return b.runCmd("ls", append(c.args, dir)...) })
			return err
		})
		if err != nil {
			return err
		}
		warmReqs, err := b.counted(func() (err error) {
			warm, err = timed(func() error { return b.runCmd("ls", append(c.args, dir)...) })
			return err
		})
		if err != nil {
			return err
		}
		r := row{Workload: "6 metadata", Metric: fmt.Sprintf("%s of %d entries, cold", c.metric, n), Unit: "ms",
			S3vol: ms(cold), Raw: ms(rawList), Target: "<= 1.2x raw LIST", Requests: coldReqs, Note: rawNote}
		if c.metric == "ls -l" {
			r.Note = rawMetaNote
			r.Target += ", 0 HEAD"
			r.Met = met(r.S3vol <= 1.2*r.Raw && coldReqs[store.ReqStat] == 0)
		}
		b.rep.add(r)
		w := row{Workload: "6 metadata", Metric: fmt.Sprintf("%s of %d entries, warm", c.metric, n), Unit: "ms",
			S3vol: ms(warm), Raw: ms(rawList), Requests: warmReqs}
		if c.metric == "ls -l" {
			w.Target = "< 100 ms"
			w.Met = met(w.S3vol < 100)
		}
		b.rep.add(w)
	}
	return b.find()
}

// find walks a tree of TreeDirs directories of TreeFiles objects each.
func (b *bench) find() error {
	dirs, files := b.sz.TreeDirs, b.sz.TreeFiles
	total := dirs * files
	name := func(i int) string { return fmt.Sprintf("tree/d%02d/s%03d/f%03d", i/files%10, i/files, i%files) }
	if err := b.putMany(total, name, 100); err != nil {
		return fmt.Errorf("creating the %d-object tree: %w", total, err)
	}
	rawList, pages, err := b.rawList("tree/", "", false)
	if err != nil {
		return err
	}
	if err := b.mount(); err != nil {
		return err
	}
	var d time.Duration
	reqs, err := b.counted(func() (err error) {
		d, err = timed(func() error { return b.runCmd("find", b.path("tree")) })
		return err
	})
	if err != nil {
		return err
	}
	b.rep.add(row{Workload: "6 metadata", Metric: fmt.Sprintf("find over %d objects in %d dirs, cold", total, dirs),
		Unit: "ms", S3vol: ms(d), Raw: ms(rawList), Requests: reqs,
		Note: fmt.Sprintf("raw is one recursive LIST (%d pages); find must list each directory", pages)})
	return nil
}

// rawList lists a prefix to the end, with the objects' metadata or not, and
// reports how long it took and how many LIST pages it cost.
func (b *bench) rawList(prefix, delim string, withMeta bool) (time.Duration, int64, error) {
	before := b.raw.Snapshot()[store.ReqList]
	d, err := timed(func() error {
		opts := store.ListOptions{Prefix: prefix, Delimiter: delim, WithMetadata: withMeta}
		for _, err := range b.raw.List(b.ctx, opts) {
			if err != nil {
				return err
			}
		}
		return nil
	})
	return d, b.raw.Snapshot()[store.ReqList] - before, err
}

// memoryPeak: workload 7. The peak RSS of the mount process while 8 files
// are open at once: 8 sequential readers, 8 sequential writers, 8 random
// readers, one after another on one mount. The target is the memory
// budget plus 64 MiB, whatever the file sizes.
func (b *bench) memoryPeak() error {
	const files = 8
	per := b.sz.MemFileBytes
	if err := b.ensureObject(seqKey, b.sz.SeqBytes); err != nil {
		return err
	}
	if err := b.mount(); err != nil {
		return err
	}
	path := b.path
	if err := os.MkdirAll(path("mem"), 0o755); err != nil {
		return err
	}
	limit := b.memory + 64<<20
	phases := []struct {
		name string
		fn   func(i int) error
	}{
		{"8 sequential readers", func(i int) error { return readPrefix(path(seqKey), per) }},
		{"8 sequential writers", func(i int) error { return writeWhole(path(fmt.Sprintf("mem/f%d", i)), per) }},
		{"8 random readers", func(i int) error { return b.randomFor(path(seqKey), b.sz.SeqBytes, int64(i)) }},
	}
	for _, p := range phases {
		if err := dropCaches(); err != nil {
			return err
		}
		if err := b.proc.resetPeakRSS(); err != nil {
			return err
		}
		var wg sync.WaitGroup
		errs := make([]error, files)
		for i := 0; i < files; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = p.fn(i) }()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
		}
		peak, err := b.proc.peakRSS()
		if err != nil {
			return err
		}
		r := row{Workload: "7 memory", Metric: fmt.Sprintf("peak RSS, %s of %s", p.name, sizeName(per)), Unit: "MiB",
			S3vol: float64(peak) / (1 << 20), Target: fmt.Sprintf("<= %d MiB (budget + 64)", limit>>20)}
		r.Met = met(peak <= limit)
		b.rep.add(r)
	}
	return nil
}

// readPrefix reads the first n bytes of a file in 1 MiB reads.
func readPrefix(path string, n int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	_, err = io.CopyBuffer(io.Discard, io.LimitReader(f, n), buf)
	return err
}

// randomFor reads 256 KiB at random offsets of a file for the random-read
// duration.
func (b *bench) randomFor(path string, size, seed int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(uint64(seed), 7))
	buf := make([]byte, 256<<10)
	for deadline := time.Now().Add(b.sz.RandomDuration); time.Now().Before(deadline); {
		if _, err := f.ReadAt(buf, rng.Int64N(size-int64(len(buf)))); err != nil {
			return err
		}
	}
	return nil
}
