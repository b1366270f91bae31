package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/s3vol/s3vol/internal/dockertest"
)

// readmeCommands returns the lines of the ```sh blocks of the README
// section whose heading is heading, in order, comments and blank lines
// left out.
func readmeCommands(t *testing.T, heading string) []string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(text), "\n## "+heading+"\n")
	if !ok {
		t.Fatalf("README.md has no section %q", heading)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var lines []string
	for {
		_, rest, ok := strings.Cut(section, "```sh\n")
		if !ok {
			break
		}
		block, after, _ := strings.Cut(rest, "```")
		for _, line := range strings.Split(block, "\n") {
			if line = strings.TrimSpace(stripComment(line)); line != "" {
				lines = append(lines, line)
			}
		}
		section = after
	}
	if len(lines) == 0 {
		t.Fatalf("README section %q has no sh block", heading)
	}
	return lines
}

// stripComment drops a shell comment: a '#' at the start or after a
// space, outside quotes.
func stripComment(line string) string {
	quote := byte(0)
	for i := 0; i < len(line); i++ {
		switch c := line[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' '):
			return line[:i]
		}
	}
	return line
}

// The README's Docker examples work as written, in the order written
// (issue 19.1, 19.3): the blocks of "Two commands", then the one of "Using
// volumes". The only changes are the names this test's engine gives the
// driver and the busybox image.
func TestREADMEDockerExamples(t *testing.T) {
	e := newEnv(t)
	h := e.startHost(t, "host-readme")
	driver := regexp.MustCompile(`(-d|--volume-driver) s3vol\b`)
	image := regexp.MustCompile(`\bbusybox\b`)
	var ran []string
	for _, heading := range []string{"Two commands", "Using volumes"} {
		for _, line := range readmeCommands(t, heading) {
			if !strings.HasPrefix(line, "docker ") {
				continue // make run, make test: this test is their client
			}
			cmd := driver.ReplaceAllString(line, "$1 "+h.Driver)
			cmd = image.ReplaceAllString(cmd, dockertest.ImageName)
			sh := exec.Command("sh", "-ec", cmd)
			sh.Env = e.d.Env()
			out, err := sh.CombinedOutput()
			if err != nil {
				t.Fatalf("README %q: %q failed: %v\n%s", heading, line, err, out)
			}
			t.Logf("$ %s\n%s", cmd, out)
			ran = append(ran, line)
		}
	}
	if len(ran) < 10 {
		t.Fatalf("ran only %d README lines: %q", len(ran), ran)
	}
	// What they made is there: the example file, the view's file inside
	// tenants, and the label.
	if out := e.sh(t, "cat /data/example.txt", "-v", "data:/data"); out != "hello" {
		t.Errorf("data's example.txt holds %q", out)
	}
	if out := e.sh(t, "cat /t/users/alice/hello", "-v", "tenants:/t"); out != "hi" {
		t.Errorf("tenants' users/alice/hello holds %q", out)
	}
	if l, _ := status(t, e.d, "web")["labels"].(map[string]any); l["team"] != "web" {
		t.Errorf("web's status does not show label team=web: %v", status(t, e.d, "web"))
	}

	// s3vol itself shows the label, and the mode as written, to a command
	// with its flags before the command's words.
	out, err := h.admin(t, "--log-level", "error", "--json", "volume", "inspect", "web", "shared")
	if err != nil || !strings.Contains(out, `"team": "web"`) || !strings.Contains(out, `"mode": "0750"`) {
		t.Errorf("s3vol --json volume inspect web shared: %v\n%s", err, out)
	}

	// What the README says of Docker itself: options given for an existing
	// volume are ignored without a word, and prune leaves s3vol's volumes.
	e.d.Must(t, "volume", "create", "-d", h.Driver, "-o", "uid=5", "shared")
	if uid := status(t, e.d, "shared")["uid"]; uid != float64(1000) {
		t.Errorf("shared's uid is %v after a create with uid=5, want the 1000 it was made with", uid)
	}
	// --all (every unused volume, not only anonymous ones) needs API 1.42;
	// older engines prune every unused volume without it.
	if _, stderr, err := e.d.Run(t, "volume", "prune", "--all", "--force"); err != nil {
		if !strings.Contains(stderr, "API version") {
			t.Fatalf("docker volume prune --all: %v\n%s", err, stderr)
		}
		e.d.Must(t, "volume", "prune", "--force")
	}
	if names := volumeNames(t, e.d, h.Driver); !contains(names, "data") || !contains(names, "web") {
		t.Errorf("docker volume prune removed s3vol volumes: %v are left", names)
	}
}
