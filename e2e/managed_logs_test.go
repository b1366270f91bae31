package e2e

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/s3vol/s3vol/internal/dockertest"
	"github.com/s3vol/s3vol/internal/testenv"
)

// Issue 19.7: what the managed plugin logs reads well in dockerd's log,
// which wraps every line the plugin prints in a line of its own: the
// plugin's line is quoted once (no quotes or timestamp of its own, so
// nothing is escaped twice), says its level first, and an error is logged
// by dockerd at level error, not info.
func TestManagedPluginLogs(t *testing.T) {
	testenv.NeedFUSE(t)
	testenv.NeedCommand(t, "make", "make")
	left := &leftovers{}
	t.Cleanup(left.reap) // after the engine's clean-up
	e := &env{d: dockertest.Private(t)}
	p := e.buildManagedPlugin(t, left)
	p.enable(t) // the built-in local store: no endpoint, no keys

	// A refused create is a warning: the failed call, whose error quotes
	// the option.
	_, stderr, err := e.d.Run(t, "volume", "create", "-d", p.Name, "-o", "colour=blue", "refused")
	if err == nil || !strings.Contains(stderr, `unknown option "colour"`) {
		t.Fatalf("docker volume create -o colour=blue: err %v, stderr %q; want the unknown option refused", err, stderr)
	}
	level, printed := p.relayedLine(t, `unknown option "colour"`)
	if level != "info" || !strings.HasPrefix(printed, "warning: docker call failed") {
		t.Errorf("dockerd logs at level %s the line %q; want level info (a warning is not a failure of the plugin) and the line to start with its own level, warning: docker call failed", level, printed)
	}

	// An object store that refuses connections is an error.
	p.disable(t)
	p.enable(t, "S3VOL_ENDPOINT=http://127.0.0.1:1", "S3VOL_BUCKET=unreachable")
	level, printed = p.relayedLine(t, "cannot connect to the object store")
	if level != "error" || !strings.HasPrefix(printed, "error: cannot connect to the object store") || !strings.Contains(printed, "127.0.0.1:1") {
		t.Errorf("dockerd logs at level %s the line %q; want level error and the line to start with error: cannot connect to the object store and name the endpoint", level, printed)
	}
}

// dockerdLine is a line of dockerd's log that relays a managed plugin's
// output: time="..." level=L msg="WHAT THE PLUGIN PRINTED" plugin=ID.
var dockerdLine = regexp.MustCompile(`level=(\w+) msg=("(?:[^"\\]|\\.)*")`)

// relayedLine waits for the plugin's last line in dockerd's log that holds
// text (as the plugin printed it) and returns dockerd's level for it and
// the plugin's line, unquoted once. It fails the test if the plugin's line
// was quoted or timestamped by the plugin itself: dockerd would escape
// those quotes a second time.
func (p *managedPlugin) relayedLine(t *testing.T, text string) (level, printed string) {
	t.Helper()
	var line string
	eventually(t, 60*time.Second, "dockerd's log has no line of the plugin holding "+text, func() bool {
		for _, l := range strings.Split(p.pluginLog(t, -1), "\n") {
			m := dockerdLine.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			if s, err := strconv.Unquote(m[2]); err == nil && strings.Contains(s, text) {
				line, level, printed = l, m[1], s
			}
		}
		return line != ""
	})
	if strings.Contains(printed, `\"`) || strings.Contains(printed, "time=") {
		t.Errorf("the plugin's line is quoted or timestamped by the plugin, then again by dockerd:\n%s", line)
	}
	t.Logf("dockerd's log holds:\n%s", line)
	return level, printed
}
