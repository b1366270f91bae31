package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/s3vol/s3vol/store"
)

// Keys of the objects the workloads share.
const (
	seqKey  = "seq/big"
	ttfbKey = "ttfb/huge"
)

// seqRead: workload 1. One reader through the mount, cold, against raw
// parallel ranged GETs of the same object. The sides take turns
// (seqRounds each), and every read starts cold: the page cache (which holds MinIO's
// copy of the object too) is dropped before it.
func (b *bench) seqRead() error {
	n := b.sz.SeqBytes
	if err := b.putObject(seqKey, n); err != nil {
		return err
	}
	rawTime, fsTime, reqs, err := b.takeTurns(true,
		func() error { return b.rawParallelGet(seqKey, n) },
		func() error { return readWhole(b.path(seqKey), n) })
	if err != nil {
		return err
	}
	total := n * seqRounds
	r := row{Workload: "1 sequential read", Metric: sizeName(n) + " cold, 1 reader", Unit: "MiB/s",
		S3vol: mbps(total, fsTime), Raw: mbps(total, rawTime), Target: ">= 0.9x raw", Requests: reqs,
		Note: fmt.Sprintf("each side read the file %d times, taking turns", seqRounds)}
	r.Met = met(r.S3vol >= 0.9*r.Raw)
	b.rep.add(r)
	return nil
}

// rawParallelGet reads key in rawChunk ranges, rawParallelism at a time.
func (b *bench) rawParallelGet(key string, n int64) error {
	chunks := int((n + rawChunk - 1) / rawChunk)
	bufs := sync.Pool{New: func() any { return make([]byte, rawChunk) }}
	return parallel(rawParallelism, chunks, func(i int) error {
		off := int64(i) * rawChunk
		rc, _, err := b.raw.Get(b.ctx, key, store.GetOptions{Offset: off, Length: min(rawChunk, n-off)})
		if err != nil {
			return err
		}
		defer rc.Close()
		buf := bufs.Get().([]byte)
		defer bufs.Put(buf)
		_, err = io.CopyBuffer(io.Discard, rc, buf)
		return err
	})
}

// readWhole reads a file start to end in 1 MiB reads and checks its size.
func readWhole(path string, want int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var got int64
	for {
		c, err := f.Read(buf)
		got += int64(c)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading %s at %d: %w", path, got, err)
		}
	}
	if got != want {
		return fmt.Errorf("read %d bytes of %s, want %d", got, path, want)
	}
	return nil
}

// seqWrite: workload 2. dd-style 1 MiB writes then close, against a raw
// multipart upload with the same part size and parallelism. The sides take
// turns (seqRounds each), and each starts with MinIO's earlier writes flushed
// to disk, so that neither pays for the other's write-back.
func (b *bench) seqWrite() error {
	n := b.sz.SeqBytes
	if err := b.mount(); err != nil {
		return err
	}
	if err := os.MkdirAll(b.path("seqw"), 0o755); err != nil {
		return err
	}
	rawTime, fsTime, reqs, err := b.takeTurns(false,
		func() error {
			w := store.NewWriter(b.ctx, b.raw, "seqw/raw", store.PutOptions{},
				store.WriterOptions{PartSize: rawChunk, Concurrency: rawParallelism})
			if _, err := io.Copy(w, &patternReader{n: n}); err != nil {
				w.Abort()
				return err
			}
			return w.Close()
		},
		func() error { return writeWhole(b.path("seqw/fs"), n) })
	if err != nil {
		return err
	}
	if err := b.raw.DeleteMany(b.ctx, []string{"seqw/raw", "seqw/fs"}); err != nil {
		return err
	}
	total := n * seqRounds
	r := row{Workload: "2 sequential write", Metric: sizeName(n) + ", 1 MiB writes + close", Unit: "MiB/s",
		S3vol: mbps(total, fsTime), Raw: mbps(total, rawTime), Target: ">= 0.8x raw", Requests: reqs,
		Note: fmt.Sprintf("each side wrote the file %d times, taking turns", seqRounds)}
	r.Met = met(r.S3vol >= 0.8*r.Raw)
	b.rep.add(r)
	return nil
}

// seqRounds is how many times each side reads or writes the file in the
// sequential workloads.
const seqRounds = 4

// takeTurns runs raw and mounted seqRounds times each, in turns (see
// inTurn), every turn starting with the page cache dropped (which also
// flushes MinIO's earlier writes, so neither side pays for the other's
// write-back); freshMount mounts anew before each mounted turn, so nothing
// is cached there either. It returns each side's total time and the
// requests the mount made.
func (b *bench) takeTurns(freshMount bool, raw, mounted func() error) (rawTime, fsTime time.Duration, reqs map[string]int64, err error) {
	rawTurn := func() error {
		if err := dropCaches(); err != nil {
			return err
		}
		d, err := timed(raw)
		if err != nil {
			return fmt.Errorf("raw side: %w", err)
		}
		rawTime += d
		return nil
	}
	mountedTurn := func() error {
		if freshMount {
			if err := b.mount(); err != nil {
				return err
			}
		}
		if err := dropCaches(); err != nil {
			return err
		}
		var d time.Duration
		roundReqs, err := b.counted(func() (err error) {
			d, err = timed(mounted)
			return err
		})
		if err != nil {
			return fmt.Errorf("through the mount: %w", err)
		}
		fsTime += d
		reqs = addCounts(reqs, roundReqs)
		return nil
	}
	for round := range seqRounds {
		if err := inTurn(round, rawTurn, mountedTurn); err != nil {
			return 0, 0, nil, err
		}
	}
	return rawTime, fsTime, reqs, nil
}

// inTurn runs the two sides of one round: raw first in even rounds, the
// mount first in odd ones. The store's speed drifts through a run (its
// disk, its caches), so neither side may always be the one that follows.
func inTurn(round int, raw, mounted func() error) error {
	first, second := raw, mounted
	if round%2 == 1 {
		first, second = mounted, raw
	}
	if err := first(); err != nil {
		return err
	}
	return second()
}

// writeWhole writes n bytes of the pattern in 1 MiB writes, then closes.
func writeWhole(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	src := &patternReader{n: n}
	for {
		c, rerr := io.ReadFull(src, buf)
		if c > 0 {
			if _, err := f.Write(buf[:c]); err != nil {
				f.Close()
				return fmt.Errorf("writing %s: %w", path, err)
			}
		}
		if rerr != nil {
			break
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", path, err)
	}
	return nil
}

// firstByte: workload 3. Open a huge object and read 4 KiB at a random
// offset, against one raw ranged GET of 4 KiB.
func (b *bench) firstByte() error {
	n := b.sz.TTFBBytes
	if err := b.putObject(ttfbKey, n); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var raw, fs latencies
	for i := 0; i < b.sz.TTFBTrials; i++ {
		off := rng.Int64N(n - 4096)
		d, err := timed(func() error {
			rc, _, err := b.raw.Get(b.ctx, ttfbKey, store.GetOptions{Offset: off, Length: 4096})
			if err != nil {
				return err
			}
			defer rc.Close()
			_, err = io.Copy(io.Discard, rc)
			return err
		})
		if err != nil {
			return err
		}
		raw.add(d)
	}
	if err := b.mount(); err != nil {
		return err
	}
	var first time.Duration
	reqs, err := b.counted(func() error {
		buf := make([]byte, 4096)
		for i := 0; i < b.sz.TTFBTrials; i++ {
			off := rng.Int64N(n - 4096)
			d, err := timed(func() error {
				f, err := os.Open(b.path(ttfbKey))
				if err != nil {
					return err
				}
				defer f.Close()
				_, err = f.ReadAt(buf, off)
				return err
			})
			if err != nil {
				return err
			}
			if i == 0 {
				first = d
			}
			fs.add(d)
		}
		return nil
	})
	if err != nil {
		return err
	}
	r := row{Workload: "3 first byte", Metric: fmt.Sprintf("open+4 KiB of %s, p50 of %d", sizeName(n), b.sz.TTFBTrials),
		Unit: "ms", S3vol: fs.pct(50), Raw: raw.pct(50), Target: "<= raw + 2 ms", Requests: reqs,
		Note: fmt.Sprintf("the very first open (cold lookup of the path) took %.2f ms", ms(first))}
	r.Met = met(r.S3vol <= r.Raw+2)
	b.rep.add(r)
	return nil
}

// randomReads: workload 4. 256 KiB at random offsets of the big file for a
// while, with 1 and 8 threads; latency percentiles against raw ranged GETs.
// The sides take turns (randomRounds each), reading the same offsets. Each read's
// pages are dropped from the page cache after it, so a later read of the
// same range goes to the filesystem again.
func (b *bench) randomReads() error {
	n := b.sz.SeqBytes
	if err := b.ensureObject(seqKey, n); err != nil {
		return err
	}
	const size = 256 << 10
	turn := b.sz.RandomDuration / randomRounds
	for _, threads := range []int{1, 8} {
		var raw, fs latencies
		var reqs map[string]int64
		if err := b.mount(); err != nil {
			return err
		}
		for round := range randomRounds {
			rawTurn := func() error {
				err := b.forDuration(threads, turn, round, func(_ int, rng *rand.Rand, buf []byte) error {
					off := rng.Int64N(n - size)
					d, err := timed(func() error {
						rc, _, err := b.raw.Get(b.ctx, seqKey, store.GetOptions{Offset: off, Length: size})
						if err != nil {
							return err
						}
						defer rc.Close()
						_, err = io.ReadFull(rc, buf[:size])
						return err
					})
					raw.add(d)
					return err
				})
				if err != nil {
					return fmt.Errorf("raw random reads: %w", err)
				}
				return nil
			}
			mountedTurn := func() error {
				roundReqs, err := b.randomThroughMount(threads, turn, round, size, &fs)
				if err != nil {
					return fmt.Errorf("random reads through the mount: %w", err)
				}
				reqs = addCounts(reqs, roundReqs)
				return nil
			}
			if err := inTurn(round, rawTurn, mountedTurn); err != nil {
				return err
			}
		}
		for _, p := range []float64{50, 99} {
			r := row{Workload: "4 random 256 KiB reads", Metric: fmt.Sprintf("%d thread(s), p%.0f latency (%d reads)", threads, p, len(fs.d)),
				Unit: "ms", S3vol: fs.pct(p), Raw: raw.pct(p), Target: "<= 1.25x raw"}
			if p == 50 {
				r.Requests = reqs
			}
			r.Met = met(r.S3vol <= 1.25*r.Raw)
			b.rep.add(r)
		}
	}
	return nil
}

// randomRounds is how many turns each side takes in the random workload.
const randomRounds = 4

// randomThroughMount is one turn of the mount's side of randomReads: each
// thread reads its own open file.
func (b *bench) randomThroughMount(threads int, d time.Duration, round int, size int64, lat *latencies) (map[string]int64, error) {
	n := b.sz.SeqBytes
	files := make([]*os.File, threads)
	defer func() {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}()
	for i := range files {
		var err error
		if files[i], err = os.Open(b.path(seqKey)); err != nil {
			return nil, err
		}
	}
	return b.counted(func() error {
		return b.forDuration(threads, d, round, func(worker int, rng *rand.Rand, buf []byte) error {
			file := files[worker]
			off := rng.Int64N(n - size)
			d, err := timed(func() error {
				_, err := file.ReadAt(buf[:size], off)
				return err
			})
			lat.add(d)
			// Whole pages: the kernel keeps partly covered ones.
			start := off &^ 4095
			unix.Fadvise(int(file.Fd()), start, (off+size+4095)&^4095-start, unix.FADV_DONTNEED)
			return err
		})
	})
}

// ensureObject creates key unless an earlier workload already did.
func (b *bench) ensureObject(key string, n int64) error {
	if o, err := b.raw.Stat(b.ctx, key); err == nil && o.Size == n {
		return nil
	}
	return b.putObject(key, n)
}

// forDuration runs fn on threads goroutines for d, each with its worker
// number, a random source seeded by worker and round (both sides of a
// round draw the same offsets) and a 1 MiB buffer.
func (b *bench) forDuration(threads int, d time.Duration, round int, fn func(worker int, rng *rand.Rand, buf []byte) error) error {
	deadline := time.Now().Add(d)
	return parallel(threads, threads, func(i int) error {
		rng := rand.New(rand.NewPCG(uint64(i), uint64(42+round)))
		buf := make([]byte, 1<<20)
		for time.Now().Before(deadline) {
			if err := fn(i, rng, buf); err != nil {
				return err
			}
		}
		return nil
	})
}

// smallFiles: workload 5. Create, write 4 KiB and close many files with 1
// and 16 writers, against raw PUTs of 4 KiB. MinIO's PUT latency drifts
// over a run (its background work, the page cache), so the two sides take
// turns in rounds rather than one after the other: each sees the same
// conditions.
func (b *bench) smallFiles() error {
	const size = 4096
	count := b.sz.SmallFiles
	rounds := min(smallRounds, count)
	for _, writers := range []int{1, 16} {
		var raw, fs latencies
		var phases smallPhases
		var fsTime time.Duration
		prefix := fmt.Sprintf("small-%d", writers)
		if err := b.mount(); err != nil {
			return err
		}
		dir := b.path(prefix + "/fs")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		data := pattern[:size]
		var reqs map[string]int64
		for r := range rounds {
			first, last := r*count/rounds, (r+1)*count/rounds
			rawTurn := func() error {
				err := parallel(writers, last-first, func(i int) error {
					d, err := timed(func() error {
						_, err := b.raw.Put(b.ctx, fmt.Sprintf("%s/raw/f%05d", prefix, first+i), &patternReader{n: size}, size, store.PutOptions{})
						return err
					})
					raw.add(d)
					return err
				})
				if err != nil {
					return fmt.Errorf("raw PUTs: %w", err)
				}
				return nil
			}
			mountedTurn := func() error {
				roundReqs, err := b.counted(func() error {
					d, err := timed(func() error {
						return parallel(writers, last-first, func(i int) error {
							d, err := timed(func() error {
								return phases.writeSmall(filepath.Join(dir, fmt.Sprintf("f%05d", first+i)), data)
							})
							fs.add(d)
							return err
						})
					})
					fsTime += d
					return err
				})
				if err != nil {
					return fmt.Errorf("creating files through the mount: %w", err)
				}
				reqs = addCounts(reqs, roundReqs)
				return nil
			}
			if err := inTurn(r, rawTurn, mountedTurn); err != nil {
				return err
			}
		}
		r := row{Workload: "5 small files", Metric: fmt.Sprintf("%d x 4 KiB create+close, %d writer(s), mean", count, writers),
			Unit: "ms", S3vol: fs.mean(), Raw: raw.mean(), Target: "<= 1.2x raw PUT", Requests: reqs,
			Note: fmt.Sprintf("%d writer(s): %.0f files/s through the mount; mean open %.2f ms, write %.2f ms, close %.2f ms",
				writers, float64(count)/fsTime.Seconds(), phases.open.mean(), phases.write.mean(), phases.close.mean())}
		r.Met = met(r.S3vol <= 1.2*r.Raw)
		b.rep.add(r)
	}
	return nil
}

// smallRounds is how many turns the raw and the mounted side take in the
// small-files workload.
const smallRounds = 10

// addCounts adds the request counts of b to a.
func addCounts(a, b map[string]int64) map[string]int64 {
	if a == nil {
		a = map[string]int64{}
	}
	for k, v := range b {
		a[k] += v
	}
	return a
}

// smallPhases times the three system calls of a small file's creation, to
// tell the FUSE round trips (open, write) from the upload (close).
type smallPhases struct{ open, write, close latencies }

func (p *smallPhases) writeSmall(path string, data []byte) error {
	start := time.Now()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	opened := time.Now()
	p.open.add(opened.Sub(start))
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	written := time.Now()
	p.write.add(written.Sub(opened))
	err = f.Close()
	p.close.add(time.Since(written))
	return err
}

func sizeName(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
