package s3fs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/s3vol/s3vol/store"
)

// TestFsx is an fsx-style integrity test: random writes at random
// offsets, truncates, reads, reopens, fsyncs and remounts on several files,
// every read checked byte for byte against an in-memory model. Set
// S3FS_FSX_SEED to replay a run; -short runs fewer operations.
func TestFsx(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		ops := 20000
		if testing.Short() {
			ops = 2000
		}
		seed := uint64(time.Now().UnixNano())
		if s := os.Getenv("S3FS_FSX_SEED"); s != "" {
			v, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				t.Fatalf("S3FS_FSX_SEED=%q: %v", s, err)
			}
			seed = v
		}
		t.Logf("fsx: %d operations, seed %d (replay with S3FS_FSX_SEED=%d)", ops, seed, seed)
		m := store.NewMetered(st)
		mt := mount(t, m, Options{Prefix: "fsx/", PartSize: store.MinPartSize})
		x := &fsx{t: t, mt: mt, rng: rand.New(rand.NewPCG(seed, seed^0x5eed))}
		// File 0 grows past two parts, so its commits are multipart
		// uploads, mostly patches of the stored file (see content/patch.go).
		x.files = []*fsxFile{{name: "big", max: 12 << 20}, {name: "a", max: 1 << 20}, {name: "b", max: 1 << 20}, {name: "c", max: 256 << 10}}
		defer x.closeAll()
		for i := range ops {
			x.op = i
			x.step()
			if (i+1)%(ops/5) == 0 {
				x.remount()
			}
		}
		x.remount()
		t.Logf("fsx: %v", x.counts)
		reqs := m.Snapshot()
		t.Logf("fsx: store requests %v", reqs)
		if reqs[store.ReqMultipartCopy] == 0 {
			t.Errorf("no commit of the big file was a patch: the run did not test them")
		}
	})
}

type fsx struct {
	t      *testing.T
	mt     *mnt
	rng    *rand.Rand
	files  []*fsxFile
	op     int
	counts map[string]int
}

type fsxFile struct {
	name  string
	max   int64
	model []byte
	f     *os.File // nil when closed
}

func (x *fsx) fail(format string, args ...any) {
	x.t.Helper()
	x.t.Fatalf("op %d: %s", x.op, fmt.Sprintf(format, args...))
}

func (x *fsx) count(what string) {
	if x.counts == nil {
		x.counts = make(map[string]int)
	}
	x.counts[what]++
}

func (x *fsx) step() {
	x.t.Helper()
	ff := x.files[x.rng.IntN(len(x.files))]
	if ff.f == nil {
		x.open(ff)
	}
	// Commits (fsync, close) upload the whole file: they are the
	// expensive operations, so they are the rarer ones.
	switch r := x.rng.IntN(100); {
	case r < 44:
		x.write(ff)
	case r < 80:
		x.read(ff)
	case r < 92:
		x.truncate(ff)
	case r < 94:
		x.count("fsync")
		if err := ff.f.Sync(); err != nil {
			x.fail("fsync %s: %v", ff.name, err)
		}
	case r < 98:
		x.count("reopen")
		x.close(ff)
		x.open(ff)
	default:
		x.count("verify")
		x.verify(ff)
	}
}

func (x *fsx) open(ff *fsxFile) {
	f, err := os.OpenFile(x.mt.path(ff.name), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		x.fail("open %s: %v", ff.name, err)
	}
	ff.f = f
}

func (x *fsx) close(ff *fsxFile) {
	if err := ff.f.Close(); err != nil {
		x.fail("close %s: %v", ff.name, err)
	}
	ff.f = nil
}

func (x *fsx) closeAll() {
	for _, ff := range x.files {
		if ff.f != nil {
			ff.f.Close()
			ff.f = nil
		}
	}
}

// write writes a random run at a random offset: usually small, sometimes
// up to 1 MiB, sometimes appending.
func (x *fsx) write(ff *fsxFile) {
	x.count("write")
	size := 1 + x.rng.Int64N(16<<10)
	if x.rng.IntN(8) == 0 {
		size = 1 + x.rng.Int64N(1<<20)
	}
	size = min(size, ff.max)
	off := x.rng.Int64N(ff.max - size + 1)
	if x.rng.IntN(5) == 0 && int64(len(ff.model))+size <= ff.max {
		off = int64(len(ff.model)) // append
	}
	data := make([]byte, size+8)
	for i := 0; i < len(data)-8; i += 8 {
		binary.LittleEndian.PutUint64(data[i:], x.rng.Uint64())
	}
	data = data[:size]
	if n, err := ff.f.WriteAt(data, off); err != nil || n != len(data) {
		x.fail("write %s [%d,+%d): %d, %v", ff.name, off, size, n, err)
	}
	if end := off + size; end > int64(len(ff.model)) {
		ff.model = append(ff.model, make([]byte, end-int64(len(ff.model)))...)
	}
	copy(ff.model[off:], data)
}

func (x *fsx) read(ff *fsxFile) {
	x.count("read")
	off := x.rng.Int64N(ff.max)
	size := 1 + x.rng.Int64N(256<<10)
	buf := make([]byte, size)
	n, err := ff.f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		x.fail("read %s [%d,+%d): %v", ff.name, off, size, err)
	}
	var want []byte
	if off < int64(len(ff.model)) {
		want = ff.model[off:min(off+size, int64(len(ff.model)))]
	}
	if !bytes.Equal(buf[:n], want) {
		x.fail("read %s [%d,+%d): got %d bytes, want %d; first difference at %d", ff.name, off, size, n, len(want), firstDiff(buf[:n], want))
	}
}

func (x *fsx) truncate(ff *fsxFile) {
	x.count("truncate")
	size := x.rng.Int64N(ff.max + 1)
	if x.rng.IntN(4) == 0 {
		size = 0
	}
	if err := ff.f.Truncate(size); err != nil {
		x.fail("truncate %s to %d: %v", ff.name, size, err)
	}
	if size <= int64(len(ff.model)) {
		ff.model = ff.model[:size]
	} else {
		ff.model = append(ff.model, make([]byte, size-int64(len(ff.model)))...)
	}
}

func (x *fsx) verify(ff *fsxFile) {
	x.t.Helper()
	got, err := os.ReadFile(x.mt.path(ff.name))
	if err != nil {
		x.fail("read %s: %v", ff.name, err)
	}
	if !bytes.Equal(got, ff.model) {
		x.fail("%s: %d bytes, want %d; first difference at %d", ff.name, len(got), len(ff.model), firstDiff(got, ff.model))
	}
}

// remount closes every file, mounts a fresh filesystem and checks every
// file whole.
func (x *fsx) remount() {
	x.t.Helper()
	x.count("remount")
	for _, ff := range x.files {
		if ff.f != nil {
			x.close(ff)
		}
	}
	x.mt.remount()
	for _, ff := range x.files {
		if _, err := os.Stat(x.mt.path(ff.name)); errors.Is(err, os.ErrNotExist) && ff.model == nil {
			continue // never opened
		}
		x.verify(ff)
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
