package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// scriptTimeout bounds one test script; the longest take well under a
// minute on a local store.
const scriptTimeout = 10 * time.Minute

// scriptResult is the outcome of one test script, e.g. "chmod/00.t".
type scriptResult struct {
	script  string
	planned int
	failed  map[int]string // test number -> what the script printed
}

func (r scriptResult) group() string { return strings.SplitN(r.script, "/", 2)[0] }

// scripts lists the test scripts of the suite, as "group/NN.t".
func scripts(suite string, groups []string) ([]string, error) {
	all, err := filepath.Glob(filepath.Join(suite, "tests", "*", "*.t"))
	if err != nil {
		return nil, fmt.Errorf("listing pjdfstest's scripts: %w", err)
	}
	var out []string
	for _, p := range all {
		rel, _ := filepath.Rel(filepath.Join(suite, "tests"), p)
		if len(groups) == 0 || slices.Contains(groups, strings.SplitN(rel, "/", 2)[0]) {
			out = append(out, rel)
		}
	}
	sort.Strings(out)
	return out, nil
}

// runAll runs the scripts in fresh folders under dir, jobs at a time.
func runAll(ctx context.Context, suite, dir string, list []string, jobs int) []scriptResult {
	results := make([]scriptResult, len(list))
	next := make(chan int)
	var wg sync.WaitGroup
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = runScript(ctx, suite, dir, list[i])
			}
		}()
	}
	for i := range list {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// runScript runs one script with its own working folder on the mount and
// reads its TAP output.
func runScript(ctx context.Context, suite, dir, script string) scriptResult {
	res := scriptResult{script: script, failed: map[int]string{}}
	work := filepath.Join(dir, strings.NewReplacer("/", "_", ".t", "").Replace(script))
	if err := os.Mkdir(work, 0o755); err != nil {
		res.failed[0] = fmt.Sprintf("creating the working folder: %v", err)
		return res
	}
	ctx, cancel := context.WithTimeout(ctx, scriptTimeout)
	defer cancel()
	// The shell enters the folder, not the fork: a child forked by this
	// process, which serves the mount, must not wait for the mount before
	// it has exec'd (the fork is stuck in the kernel waiting for an answer
	// that this process cannot give meanwhile).
	cmd := exec.CommandContext(ctx, "sh", "-c", `cd "$1" && exec sh "$2"`, "sh", work, filepath.Join(suite, "tests", script))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var out bytes.Buffer
	cmd.Stdout = &out
	runErr := cmd.Run()
	parseTAP(&res, out.Bytes())
	if res.planned == 0 {
		res.failed[0] = fmt.Sprintf("no test plan printed (%v)", runErr)
	}
	return res
}

var (
	planLine = regexp.MustCompile(`^1\.\.(\d+)`)
	testLine = regexp.MustCompile(`^(not )?ok (\d+)(.*)$`)
)

// parseTAP reads a script's plan and results; a planned test that printed
// no result (the script stopped) failed. As for prove, a failed test
// marked TODO does not count.
func parseTAP(res *scriptResult, out []byte) {
	seen := map[int]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := planLine.FindStringSubmatch(line); m != nil {
			res.planned, _ = strconv.Atoi(m[1])
			continue
		}
		m := testLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[2])
		seen[n] = true
		if m[1] != "" && !strings.Contains(m[3], "# TODO") {
			res.failed[n] = strings.TrimPrefix(strings.TrimSpace(m[3]), "- ")
		}
	}
	for n := 1; n <= res.planned; n++ {
		if !seen[n] {
			res.failed[n] = "no result: the script stopped before it"
		}
	}
}
