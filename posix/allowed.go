package main

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
)

// allowance is one line of the allowed-failures file: the failures of
// tests of a script (a pattern, "link/*.t") on a store ("all", "local" or
// "minio") that s3vol accepts, and why.
type allowance struct {
	store, script string
	tests         [][2]int // inclusive ranges; nil for every test
	reason        string
	line          int
}

// loadAllowed reads the allowed-failures file: one allowance a line,
// "STORE SCRIPT TESTS REASON...", where TESTS is "*" or a comma-separated
// list of numbers and ranges ("3,7-9"); "#" starts a comment line.
func loadAllowed(file string) ([]allowance, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("reading the allowed failures: %w", err)
	}
	defer f.Close()
	var list []allowance
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 4 {
			return nil, fmt.Errorf("%s:%d: want STORE SCRIPT TESTS REASON, got %q", file, n, line)
		}
		a := allowance{store: fields[0], script: fields[1], reason: strings.Join(fields[3:], " "), line: n}
		if a.store != "all" && a.store != "local" && a.store != "minio" {
			return nil, fmt.Errorf("%s:%d: store %q: want all, local or minio", file, n, a.store)
		}
		if _, err := path.Match(a.script, ""); err != nil {
			return nil, fmt.Errorf("%s:%d: script pattern %q: %w", file, n, a.script, err)
		}
		if a.tests, err = parseRanges(fields[2]); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", file, n, err)
		}
		list = append(list, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	return list, nil
}

// parseRanges reads "*" or "3,7-9".
func parseRanges(s string) ([][2]int, error) {
	if s == "*" {
		return nil, nil
	}
	var out [][2]int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 1 || b < a {
			return nil, fmt.Errorf("tests %q: want *, or numbers and ranges like 3,7-9", s)
		}
		out = append(out, [2]int{a, b})
	}
	return out, nil
}

// allowedFor returns the allowance covering test n of script on store, or
// nil.
func allowedFor(list []allowance, store, script string, n int) *allowance {
	for i := range list {
		a := &list[i]
		if a.store != "all" && a.store != store {
			continue
		}
		if ok, _ := path.Match(a.script, script); !ok {
			continue
		}
		if a.tests == nil {
			return a
		}
		for _, r := range a.tests {
			if n >= r[0] && n <= r[1] {
				return a
			}
		}
	}
	return nil
}
