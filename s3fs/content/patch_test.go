package content

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/s3vol/s3vol/store"
	"github.com/s3vol/s3vol/store/faultstore"
)

// planned stages a file over a base of limit bytes (nothing fetched: the
// plan needs no bytes of the base) and applies writes, each len bytes at
// off.
func planned(t *testing.T, r *rig, b Base, writes ...[2]int64) *Staged {
	t.Helper()
	s := NewStaged(r.env, b)
	t.Cleanup(s.Close)
	for _, w := range writes {
		if err := s.WriteAt(context.Background(), make([]byte, w[1]), w[0]); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestPlanPatchDeclines: a patch is planned only when it saves something
// and can be pinned to the base's version; every other case is stored whole.
func TestPlanPatchDeclines(t *testing.T) {
	r := newRig(t, 64<<20)
	known := func(limit int64) Base { return Base{Key: "f", ETag: "v1", Limit: limit} }
	cases := []struct {
		name   string
		base   Base
		writes [][2]int64
		setup  func()        // before staging
		then   func(*Staged) // after the writes
	}{
		{name: "the file fits in one part", base: known(part), writes: [][2]int64{{10, 1}}},
		{name: "the base is smaller than a block", base: known(part - 1), writes: [][2]int64{{part - 1, 2 * part}}},
		{name: "no base", base: Base{}, writes: [][2]int64{{0, 3 * part}}},
		{name: "the base's version is unknown", base: Base{Key: "f", Limit: 3 * part}, writes: [][2]int64{{3 * part, 1}}},
		{name: "every block changed", base: known(2*part + 10), writes: [][2]int64{{0, 1}, {part + 5, 1}, {2 * part, 1}}},
		{name: "the base was truncated below a block", base: known(3 * part), then: func(s *Staged) {
			if err := s.Truncate(part / 2); err != nil {
				t.Fatal(err)
			}
			if err := s.WriteAt(context.Background(), make([]byte, 10), 3*part); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "the store refused to copy parts", base: known(3 * part), writes: [][2]int64{{3 * part, 1}},
			setup: func() { r.env.noPartCopy.Store(true) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r.env.noPartCopy.Store(false)
			if c.setup != nil {
				c.setup()
			}
			s := planned(t, r, c.base, c.writes...)
			if c.then != nil {
				c.then(s)
			}
			if p := s.planPatch(); p != nil {
				t.Fatalf("planned %+v; want no patch", p)
			}
		})
	}
	r.env.noPartCopy.Store(false)
	if got := r.counts(); len(nonZero(got)) != 0 {
		t.Errorf("planning made requests: %v", nonZero(got))
	}
}

// TestPlanPatch: unchanged blocks under the base become copied parts,
// merged up to maxCopyPart; changed blocks and bytes past the base are sent.
func TestPlanPatch(t *testing.T) {
	r := newRig(t, 64<<20)
	base := func(limit int64) Base { return Base{Key: "f", ETag: "v1", Limit: limit} }
	cases := []struct {
		name   string
		base   Base
		writes [][2]int64
		want   []patchPart
	}{
		{name: "append", base: base(3*part + part/5), writes: [][2]int64{{3*part + part/5, 100_000}},
			want: []patchPart{{0, 3 * part, true}, {3 * part, 3*part + part/5 + 100_000, false}}},
		{name: "a write in the middle", base: base(3*part + part/5), writes: [][2]int64{{part + part/2, 7}},
			want: []patchPart{{0, part, true}, {part, 2 * part, false}, {2 * part, 3*part + part/5, true}}},
		{name: "a write across a block boundary", base: base(4 * part), writes: [][2]int64{{2*part - 1, 2}},
			want: []patchPart{{0, part, true}, {part, 2 * part, false}, {2 * part, 3 * part, false}, {3 * part, 4 * part, true}}},
		{name: "the header rewritten", base: base(2*part + 1), writes: [][2]int64{{0, 44}},
			want: []patchPart{{0, part, false}, {part, 2*part + 1, true}}},
		{name: "grown past the base by a hole", base: base(2 * part), writes: [][2]int64{{5 * part, 1}},
			want: []patchPart{{0, 2 * part, true}, {2 * part, 3 * part, false}, {3 * part, 4 * part, false},
				{4 * part, 5 * part, false}, {5 * part, 5*part + 1, false}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := planned(t, r, c.base, c.writes...)
			got := s.planPatch()
			checkPlan(t, s, got)
			if !equalParts(got, c.want) {
				t.Fatalf("planned %+v; want %+v", got, c.want)
			}
		})
	}

	t.Run("copied runs are capped", func(t *testing.T) {
		size := int64(104*part + 1)
		s := planned(t, r, base(size), [2]int64{size - 1, 1})
		got := s.planPatch()
		checkPlan(t, s, got)
		// 51 blocks of 5 MiB fit in 256 MiB: the 104 unchanged blocks are
		// copied as 51 + 51 + 2, and the changed last byte is sent.
		if len(got) != 4 || got[0].end != 51*part || got[1].end != 102*part || got[2].end != 104*part || got[3].copy {
			t.Fatalf("planned %+v; want copies of 51, 51 and 2 blocks, then the last block sent", got)
		}
	})

	t.Run("blocks grow for huge files", func(t *testing.T) {
		// 6000 blocks of a part would be more than half of S3's 10,000
		// parts: the block doubles.
		size := int64(6000 * part)
		s := planned(t, r, base(size), [2]int64{size / 2, 1})
		got := s.planPatch()
		checkPlan(t, s, got)
		if block := s.patchBlock(); block != 2*part {
			t.Fatalf("block %d; want %d", block, 2*part)
		}
		for _, p := range got[:len(got)-1] {
			if (p.end-p.start)%(2*part) != 0 {
				t.Fatalf("part %+v is not made of whole %d-byte blocks", p, 2*part)
			}
		}
	})
	if got := r.counts(); len(nonZero(got)) != 0 {
		t.Errorf("planning made requests: %v", nonZero(got))
	}
}

// checkPlan checks what every patch must be: parts in order covering the
// whole file, each but the last at least the store's minimum part size, no
// more than the store's parts, copies only of unchanged bytes of the base
// and none over maxCopyPart.
func checkPlan(t *testing.T, s *Staged, parts []patchPart) {
	t.Helper()
	if len(parts) == 0 || len(parts) > store.MaxParts {
		t.Fatalf("%d parts", len(parts))
	}
	pos := int64(0)
	for i, p := range parts {
		switch {
		case p.start != pos || p.end <= p.start:
			t.Fatalf("part %d is %+v; want it to start at %d and not be empty", i, p, pos)
		case i < len(parts)-1 && p.end-p.start < store.MinPartSize:
			t.Fatalf("part %d (%+v) is smaller than the store's minimum", i, p)
		case p.copy && (p.end > s.base.Limit || s.changed.Overlaps(p.start, p.end) || p.end-p.start > maxCopyPart):
			t.Fatalf("part %d (%+v) copies bytes it must not (base %d bytes)", i, p, s.base.Limit)
		}
		pos = p.end
	}
	if pos != s.size {
		t.Fatalf("the parts end at %d; the file at %d", pos, s.size)
	}
}

func equalParts(a, b []patchPart) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestCommitAsPatch: appending to a big file, or changing a few bytes in
// its middle, sends only the changed blocks (their missing bytes fetched
// first); the unchanged ones are copied inside the store. The committed
// object becomes the base of the next commit.
func TestCommitAsPatch(t *testing.T) {
	r := newRig(t, 64<<20)
	ctx := context.Background()
	model := pattern(7, 3*part+part/5)
	obj := r.put(t, "f", model)
	s := NewStaged(r.env, Base{Key: "f", ETag: obj.ETag, Limit: obj.Size})
	defer s.Close()

	tail := pattern(8, 100_000)
	if err := s.WriteAt(ctx, tail, int64(len(model))); err != nil {
		t.Fatal(err)
	}
	model = append(model, tail...)
	meta := map[string]string{"mode": "33188"}
	r.counts()
	if _, err := s.Commit(ctx, "f", store.PutOptions{Metadata: meta}); err != nil {
		t.Fatalf("committing an append: %v", err)
	}
	r.wantStored(t, "f", model)
	// Blocks 0-2 copied in one part; the last block's old bytes fetched
	// (one GET of part/5 bytes) and the block sent.
	wantCounts(t, "append", r.counts(), map[string]int64{
		store.ReqMultipartCreate: 1, store.ReqMultipartCopy: 1, store.ReqMultipartPart: 1, store.ReqMultipartDone: 1,
		store.ReqGet: 1, store.BytesRead: part / 5, store.BytesWritten: int64(len(model) - 3*part),
	})
	if _, obj, _ := r.stored(t, "f"); obj.Metadata["mode"] != "33188" {
		t.Errorf("the patched object's metadata is %v; want the commit's", obj.Metadata)
	}

	if err := s.WriteAt(ctx, []byte("patched"), part+part/2); err != nil {
		t.Fatal(err)
	}
	copy(model[part+part/2:], "patched")
	if _, err := s.Commit(ctx, "f", store.PutOptions{}); err != nil {
		t.Fatalf("committing a write in the middle: %v", err)
	}
	r.wantStored(t, "f", model)
	// Blocks 0 and 2-3 copied around block 1, whose bytes on both sides of
	// the write are fetched (two GETs) from the object the first commit
	// made: its base now.
	wantCounts(t, "write in the middle", r.counts(), map[string]int64{
		store.ReqMultipartCreate: 1, store.ReqMultipartCopy: 2, store.ReqMultipartPart: 1, store.ReqMultipartDone: 1,
		store.ReqGet: 2, store.BytesRead: part - 7, store.BytesWritten: part,
	})

	// Nothing changed since: reading everything fetches only what was
	// never here (blocks 0 and 2, copied), from the current object.
	if got := readAll(t, s); !bytes.Equal(got, model) {
		t.Fatalf("read back after the commits: first difference at %d", firstDiff(got, model))
	}
	if got := r.counts(); got[store.BytesRead] != 2*part {
		t.Errorf("reading back fetched %d bytes; want the %d of blocks 0 and 2, never fetched", got[store.BytesRead], 2*part)
	}
}

// TestCommitPatchBaseReplaced: the stored object replaced elsewhere while
// the file is modified here. The patch's copy finds the base changed;
// storing whole then needs every byte locally: with bytes missing the
// commit fails and the other writer's object stays whole; with all of
// them here, the last commit wins, whole.
func TestCommitPatchBaseReplaced(t *testing.T) {
	ctx := context.Background()
	for _, allLocal := range []bool{false, true} {
		name := map[bool]string{false: "bytes missing", true: "all bytes here"}[allLocal]
		t.Run(name, func(t *testing.T) {
			r := newRig(t, 64<<20)
			model := pattern(1, 2*part+10)
			obj := r.put(t, "f", model)
			s := NewStaged(r.env, Base{Key: "f", ETag: obj.ETag, Limit: obj.Size})
			defer s.Close()
			if allLocal {
				model = readAll(t, s)
			}
			// The whole last block, so that the patch needs no fetch.
			if err := s.WriteAt(ctx, []byte("mine mine!"), 2*part); err != nil {
				t.Fatal(err)
			}
			copy(model[2*part:], "mine mine!")
			theirs := pattern(2, 2*part+10)
			r.put(t, "f", theirs)
			r.counts()

			_, err := s.Commit(ctx, "f", store.PutOptions{})
			got := r.counts()
			if got[store.ReqMultipartCopy] != 1 || got[store.ReqMultipartAbort] != 1 {
				t.Errorf("requests %v; want the patch's copy tried once and its upload aborted", nonZero(got))
			}
			if !allLocal {
				if !store.IsPreconditionFailed(err) {
					t.Fatalf("commit: %v; want a precondition failure (the base changed)", err)
				}
				r.wantStored(t, "f", theirs)
				return
			}
			if err != nil {
				t.Fatalf("commit with every byte here: %v", err)
			}
			r.wantStored(t, "f", model)
			if got[store.ReqGet] != 0 {
				t.Errorf("the whole commit fetched %d times; every byte was here", got[store.ReqGet])
			}
		})
	}
}

// TestCommitPatchWithoutPartCopy: on a store that cannot copy parts, a
// modified file is stored whole, and the Env stops trying after the first
// refusal.
func TestCommitPatchWithoutPartCopy(t *testing.T) {
	r := newRig(t, 64<<20)
	ctx := context.Background()
	r.faults.Add(faultstore.Rule{Op: faultstore.OpCopyPart, Err: store.ErrNotSupported})
	model := pattern(3, 2*part+10)
	obj := r.put(t, "f", model)
	s := NewStaged(r.env, Base{Key: "f", ETag: obj.ETag, Limit: obj.Size})
	defer s.Close()
	for i := range 2 {
		if err := s.WriteAt(ctx, []byte("more"), int64(len(model))); err != nil {
			t.Fatal(err)
		}
		model = append(model, "more"...)
		r.counts()
		if _, err := s.Commit(ctx, "f", store.PutOptions{}); err != nil {
			t.Fatalf("append %d: commit: %v", i+1, err)
		}
		r.wantStored(t, "f", model)
		got := r.counts()
		if want := int64(1 - i); got[store.ReqMultipartCopy] != want {
			t.Errorf("append %d: %d parts copied, want %d", i+1, got[store.ReqMultipartCopy], want)
		}
		// Stored whole, in one upload (the refused patch may have sent its
		// changed block before it was aborted).
		if got[store.BytesWritten] < int64(len(model)) || got[store.ReqMultipartDone] != 1 {
			t.Errorf("append %d: requests %v; want the %d bytes sent whole in one upload", i+1, nonZero(got), len(model))
		}
	}
}

// TestCommitPatchFailures: a failed store call during a patch fails the
// commit, aborts its upload and leaves the stored object as it was; the
// changes stay, and the next commit stores them.
func TestCommitPatchFailures(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		op       faultstore.Op
		uploaded bool // the multipart upload started, and must be aborted
	}{
		{faultstore.OpGet, false}, // fetching the changed block's old bytes
		{faultstore.OpRead, false},
		{faultstore.OpNewMultipart, false},
		{faultstore.OpCopyPart, true},
		{faultstore.OpUploadPart, true},
		{faultstore.OpComplete, true},
	} {
		t.Run(string(c.op), func(t *testing.T) {
			r := newRig(t, 64<<20)
			old := pattern(4, 3*part)
			obj := r.put(t, "f", old)
			s := NewStaged(r.env, Base{Key: "f", ETag: obj.ETag, Limit: obj.Size})
			defer s.Close()
			model := bytes.Clone(old)
			if err := s.WriteAt(ctx, []byte("changed"), part+100); err != nil {
				t.Fatal(err)
			}
			copy(model[part+100:], "changed")
			r.faults.Add(faultstore.Rule{Op: c.op, Times: 1, AfterBytes: 10})
			r.counts()

			_, err := s.Commit(ctx, "f", store.PutOptions{})
			if !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("commit with a failing %s: %v; want the injected failure", c.op, err)
			}
			r.wantStored(t, "f", old)
			got := r.counts()
			if want := map[bool]int64{false: 0, true: 1}[c.uploaded]; got[store.ReqMultipartAbort] != want {
				t.Errorf("requests %v; want %d aborted upload", nonZero(got), want)
			}
			if c.uploaded && got[store.ReqMultipartCreate] != 1 {
				t.Errorf("requests %v; want one upload started", nonZero(got))
			}
			if !c.uploaded && got[store.ReqMultipartPart]+got[store.ReqMultipartCopy] != 0 {
				t.Errorf("requests %v; want no part sent or copied", nonZero(got))
			}

			if _, err := s.Commit(ctx, "f", store.PutOptions{}); err != nil {
				t.Fatalf("committing again once the store works: %v", err)
			}
			r.wantStored(t, "f", model)
		})
	}
}
