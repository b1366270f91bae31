package extent

import (
	"math/rand/v2"
	"testing"
)

// TestAgainstBitmap checks the set against a plain bitmap model under random
// adds and truncates.
func TestAgainstBitmap(t *testing.T) {
	const size = 200
	seed := uint64(42)
	rng := rand.New(rand.NewPCG(seed, seed))
	var s Set
	var model [size]bool
	for op := 0; op < 20000; op++ {
		a, b := rng.Int64N(size), rng.Int64N(size)
		if a > b {
			a, b = b, a
		}
		if rng.IntN(10) == 0 {
			s.Truncate(a)
			for i := a; i < size; i++ {
				model[i] = false
			}
		} else {
			s.Add(a, b)
			for i := a; i < b; i++ {
				model[i] = true
			}
		}
		checkSet(t, &s, model[:])
		qa, qb := rng.Int64N(size), rng.Int64N(size)
		if qa > qb {
			qa, qb = qb, qa
		}
		var covered [size]bool
		for _, g := range s.Gaps(qa, qb) {
			if g.Start >= g.End || g.Start < qa || g.End > qb {
				t.Fatalf("op %d: bad gap %v for [%d,%d)", op, g, qa, qb)
			}
			for i := g.Start; i < g.End; i++ {
				covered[i] = true
			}
		}
		any := false
		for i := qa; i < qb; i++ {
			if covered[i] == model[i] {
				t.Fatalf("op %d: byte %d: gap=%v present=%v", op, i, covered[i], model[i])
			}
			any = any || model[i]
		}
		if got := s.Overlaps(qa, qb); got != any {
			t.Fatalf("op %d: Overlaps(%d, %d) = %v, want %v (%v)", op, qa, qb, got, any, s.Ranges())
		}
	}
}

func checkSet(t *testing.T, s *Set, model []bool) {
	t.Helper()
	var got []bool = make([]bool, len(model))
	prevEnd := int64(-1)
	for _, r := range s.Ranges() {
		if r.Start >= r.End || r.Start <= prevEnd {
			t.Fatalf("ranges not sorted, disjoint and non-adjacent: %v", s.Ranges())
		}
		prevEnd = r.End
		for i := r.Start; i < r.End; i++ {
			got[i] = true
		}
	}
	for i := range model {
		if got[i] != model[i] {
			t.Fatalf("byte %d: set=%v model=%v (%v)", i, got[i], model[i], s.Ranges())
		}
	}
}
