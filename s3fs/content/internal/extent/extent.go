// Package extent keeps a set of half-open byte ranges [Start, End), merged
// and sorted. The staging file uses it to remember which bytes of a file are
// present locally (written or already fetched), so that reads fetch only the
// gaps and a commit knows what it still has to download.
package extent

import "sort"

// Range is the half-open byte range [Start, End).
type Range struct{ Start, End int64 }

// Len is the number of bytes in r.
func (r Range) Len() int64 { return r.End - r.Start }

// Set is a sorted list of disjoint, non-adjacent ranges. The zero value is
// an empty set. It is not safe for concurrent use.
type Set struct{ rs []Range }

// Add marks [start, end) as present, merging with neighbours.
func (s *Set) Add(start, end int64) {
	if start >= end {
		return
	}
	// First range that ends at or after start (may touch it).
	i := sort.Search(len(s.rs), func(i int) bool { return s.rs[i].End >= start })
	j := i
	for j < len(s.rs) && s.rs[j].Start <= end {
		start = min(start, s.rs[j].Start)
		end = max(end, s.rs[j].End)
		j++
	}
	s.rs = append(s.rs[:i], append([]Range{{start, end}}, s.rs[j:]...)...)
}

// Truncate drops everything at or beyond size.
func (s *Set) Truncate(size int64) {
	i := sort.Search(len(s.rs), func(i int) bool { return s.rs[i].End > size })
	if i < len(s.rs) && s.rs[i].Start < size {
		s.rs[i].End = size
		i++
	}
	s.rs = s.rs[:i]
}

// Gaps returns the sub-ranges of [start, end) that are not in the set, in
// ascending order.
func (s *Set) Gaps(start, end int64) []Range {
	var gaps []Range
	i := sort.Search(len(s.rs), func(i int) bool { return s.rs[i].End > start })
	pos := start
	for ; i < len(s.rs) && s.rs[i].Start < end && pos < end; i++ {
		if s.rs[i].Start > pos {
			gaps = append(gaps, Range{pos, s.rs[i].Start})
		}
		pos = max(pos, s.rs[i].End)
	}
	if pos < end {
		gaps = append(gaps, Range{pos, end})
	}
	return gaps
}

// Contains reports whether all of [start, end) is in the set.
func (s *Set) Contains(start, end int64) bool { return len(s.Gaps(start, end)) == 0 }

// Overlaps reports whether any byte of [start, end) is in the set.
func (s *Set) Overlaps(start, end int64) bool {
	if start >= end {
		return false
	}
	g := s.Gaps(start, end)
	return len(g) != 1 || g[0] != Range{start, end}
}

// Ranges returns a copy of the ranges in the set.
func (s *Set) Ranges() []Range { return append([]Range(nil), s.rs...) }
