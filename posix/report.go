package main

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
)

// report prints the passed and failed tests of each syscall group on one
// store, then every failure not allowed (and, verbose, the allowed ones);
// it returns how many failures were not allowed.
func report(w io.Writer, storeName string, results []scriptResult, allowed []allowance, verbose bool) int {
	type counts struct{ planned, failed, allowed int }
	groups := map[string]*counts{}
	var total counts
	var unexpected, expected []string
	for _, r := range results {
		c := groups[r.group()]
		if c == nil {
			c = &counts{}
			groups[r.group()] = c
		}
		c.planned += r.planned
		total.planned += r.planned
		nums := make([]int, 0, len(r.failed))
		for n := range r.failed {
			nums = append(nums, n)
		}
		sort.Ints(nums)
		for _, n := range nums {
			c.failed++
			total.failed++
			line := fmt.Sprintf("%s %d: %s", r.script, n, shorten(r.failed[n], 200))
			if a := allowedFor(allowed, storeName, r.script, n); a != nil && n > 0 {
				c.allowed++
				total.allowed++
				expected = append(expected, line+"  [allowed: "+a.reason+"]")
			} else {
				unexpected = append(unexpected, line)
			}
		}
	}
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	fmt.Fprintf(w, "\npjdfstest on the %s store\n", storeName)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "group\ttests\tpassed\tfailed\tallowed\tnew\t")
	row := func(name string, c counts) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t\n", name, c.planned, c.planned-c.failed, c.failed, c.allowed, c.failed-c.allowed)
	}
	for _, g := range names {
		row(g, *groups[g])
	}
	row("total", total)
	tw.Flush()
	if verbose {
		for _, l := range expected {
			fmt.Fprintln(w, "  allowed:", l)
		}
	}
	for _, l := range unexpected {
		fmt.Fprintln(w, "  NEW FAILURE:", l)
	}
	return len(unexpected)
}

// shorten cuts s to at most n bytes: the suite's long names fill screens.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n/2] + "..." + s[len(s)-n/2:]
}
