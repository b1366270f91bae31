package content

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
)

// readerOf puts data as key and opens a range reader of it.
func readerOf(t *testing.T, r *rig, key string, data []byte) *RangeReader {
	t.Helper()
	obj := r.put(t, key, data)
	rd := NewRangeReader(r.env, key, obj.ETag, obj.Size)
	t.Cleanup(rd.Close)
	r.counts()
	return rd
}

// readCheck reads n bytes at off, checks them against model and releases
// the reply.
func readCheck(t *testing.T, rd *RangeReader, model []byte, off int64, n int) {
	t.Helper()
	rep, err := rd.Read(context.Background(), make([]byte, n), off)
	if err != nil {
		t.Fatalf("reading %d bytes at %d: %v", n, off, err)
	}
	defer rep.Done()
	want := model[min(off, int64(len(model))):min(off+int64(n), int64(len(model)))]
	if got := rep.Bytes(nil); !bytes.Equal(got, want) {
		t.Fatalf("reading %d bytes at %d: got %d bytes that differ from the %d expected", n, off, len(got), len(want))
	}
	if rep.Size() != len(want) {
		t.Fatalf("reading %d bytes at %d: Size() %d; want %d", n, off, rep.Size(), len(want))
	}
}

// window reports the reader's window: its target size, how many bytes its
// chunks hold and the largest chunk.
func (rd *RangeReader) windowState() (target, held, largest int64) {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	for _, c := range rd.window {
		held += c.end - c.off
		largest = max(largest, c.end-c.off)
	}
	return rd.ra, held, largest
}

// TestReaderRandomReads: reads far apart fetch exactly the bytes asked
// for, one GET each, and start no read-ahead.
func TestReaderRandomReads(t *testing.T) {
	r := newRig(t, 64<<20)
	model := pattern(1, 16<<20)
	rd := readerOf(t, r, "f", model)
	offsets := []int64{3 << 20, 9 << 20, 11<<20 + 1<<19, 6 << 20, 1 << 19, 15 << 20, 12 << 20}
	for _, off := range offsets {
		readCheck(t, rd, model, off, 4096)
		if _, held, _ := rd.windowState(); held != 0 {
			t.Fatalf("after a random read at %d the window holds %d bytes; want none", off, held)
		}
	}
	wantCounts(t, "random reads", r.counts(), map[string]int64{
		store.ReqGet: int64(len(offsets)), store.BytesRead: int64(4096 * len(offsets)),
	})

	// At and past the end: nothing, without a request.
	readCheck(t, rd, model, int64(len(model))-10, 4096)
	readCheck(t, rd, model, int64(len(model)), 4096)
	wantCounts(t, "reads at the end", r.counts(), map[string]int64{store.ReqGet: 1, store.BytesRead: 10})
}

// TestReaderWindowGrows: a sequential reader's window starts at twice the
// kernel's read-ahead and doubles up to ReadAheadMax, fetched in chunks
// that grow up to ReadChunkMax; every byte is fetched once, in far fewer
// GETs than reads, and chunks left behind are freed.
func TestReaderWindowGrows(t *testing.T) {
	r := newRig(t, 128<<20)
	model := pattern(2, 96<<20+123)
	rd := readerOf(t, r, "f", model)
	if target, _, _ := rd.windowState(); target != 2<<20 {
		t.Fatalf("first window %d bytes; want twice the kernel's read-ahead, %d", target, 2<<20)
	}
	const read = 1 << 20
	reads := 0
	var maxTarget, maxChunk int64
	for off := int64(0); off < int64(len(model)); off += read {
		readCheck(t, rd, model, off, read)
		reads++
		target, held, largest := rd.windowState()
		maxTarget, maxChunk = max(maxTarget, target), max(maxChunk, largest)
		// The window reaches its target past the reader, plus a chunk it
		// may overshoot by, plus what it keeps behind.
		if bound := target + 2*r.env.ReadChunkMax + keepBehind; held > bound {
			t.Fatalf("at %d the window holds %d bytes; want at most %d", off, held, bound)
		}
	}
	if maxTarget != r.env.ReadAheadMax || maxChunk != r.env.ReadChunkMax {
		t.Errorf("the window grew to %d bytes in chunks of up to %d; want %d in chunks of %d",
			maxTarget, maxChunk, r.env.ReadAheadMax, r.env.ReadChunkMax)
	}
	got := r.counts()
	if got[store.BytesRead] != int64(len(model)) || got[store.ReqGet] > int64(reads/4) {
		t.Errorf("%d reads of 1 MiB: requests %v; want every byte fetched once, in at most %d GETs", reads, nonZero(got), reads/4)
	}

	// A reader that turns random drops its window and starts over.
	readCheck(t, rd, model, 10<<20, 4096)
	readCheck(t, rd, model, 40<<20, 4096)
	if target, held, _ := rd.windowState(); held != 0 || target != 2<<20 {
		t.Errorf("after two random reads the window holds %d bytes, target %d; want none, back to %d", held, target, 2<<20)
	}
}

// TestReaderUnderMemoryPressure: read-ahead takes its buffers from the
// budget without waiting. With most of the budget held elsewhere the
// window stays within what is free and the reads it cannot cover go
// straight to the store; once the memory is given back, the window grows
// again. No byte is fetched twice either way.
func TestReaderUnderMemoryPressure(t *testing.T) {
	const budget, free = 32 << 20, 2 << 20
	r := newRig(t, budget)
	ctx := context.Background()
	model := pattern(3, 48<<20)
	rd := readerOf(t, r, "f", model)
	held, err := r.pool.Get(ctx, budget-free)
	if err != nil {
		t.Fatal(err)
	}
	const read = 1 << 20
	var maxHeld int64
	for off := int64(0); off < 24<<20; off += read {
		readCheck(t, rd, model, off, read)
		_, h, _ := rd.windowState()
		maxHeld = max(maxHeld, h)
	}
	if maxHeld > free {
		t.Fatalf("under pressure the window held %d bytes; only %d were free", maxHeld, free)
	}
	pressed := r.counts()
	if pressed[store.BytesRead] != 24<<20 {
		t.Errorf("under pressure: requests %v; want every byte fetched once", nonZero(pressed))
	}

	r.pool.Put(held)
	maxHeld = 0
	for off := int64(24 << 20); off < int64(len(model)); off += read {
		readCheck(t, rd, model, off, read)
		_, h, _ := rd.windowState()
		maxHeld = max(maxHeld, h)
	}
	if maxHeld < 8<<20 {
		t.Errorf("with the budget free again the window held at most %d bytes; want it grown past %d", maxHeld, 8<<20)
	}
	relieved := r.counts()
	if relieved[store.BytesRead] != 24<<20 || relieved[store.ReqGet] >= pressed[store.ReqGet] {
		t.Errorf("with the budget free: requests %v, under pressure %v; want every byte fetched once, in fewer GETs",
			nonZero(relieved), nonZero(pressed))
	}
}

// TestReaderPinnedToVersion: a reader reads the version it was opened on;
// once the object is replaced, its reads fail rather than mix versions.
func TestReaderPinnedToVersion(t *testing.T) {
	r := newRig(t, 64<<20)
	model := pattern(4, 8<<20)
	rd := readerOf(t, r, "f", model)
	readCheck(t, rd, model, 5<<20, 4096)
	r.put(t, "f", pattern(5, 8<<20))
	if _, err := rd.Read(context.Background(), make([]byte, 4096), 1<<20); !store.IsPreconditionFailed(err) {
		t.Fatalf("reading a replaced object: %v; want a precondition failure", err)
	}
}

// TestReaderFailures: a failed GET, or a body that breaks off, fails the
// read that needed it, whether it was fetched for the read itself or
// ahead of it; once the store works again, reading the same bytes again
// fetches them anew.
func TestReaderFailures(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name       string
		rule       faultstore.Rule
		sequential bool
	}{
		{"a random read's GET", faultstore.Rule{Op: faultstore.OpGet}, false},
		{"a random read's body", faultstore.Rule{Op: faultstore.OpRead, AfterBytes: 100}, false},
		{"a read-ahead GET", faultstore.Rule{Op: faultstore.OpGet}, true},
		{"a read-ahead body", faultstore.Rule{Op: faultstore.OpRead, AfterBytes: 100}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, 64<<20)
			model := pattern(6, 8<<20)
			rd := readerOf(t, r, "f", model)
			off := int64(3 << 20)
			if c.sequential {
				off = 0 // a read at 0 starts read-ahead at once
			}
			r.faults.Add(c.rule)
			rep, err := rd.Read(ctx, make([]byte, 4096), off)
			if !errors.Is(err, store.ErrUnavailable) {
				if rep != nil {
					rep.Done()
				}
				t.Fatalf("read with a failing fetch: %v; want the injected failure", err)
			}
			r.faults.Clear()
			readCheck(t, rd, model, off, 4096)
		})
	}
}
