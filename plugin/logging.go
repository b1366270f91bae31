package main

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
)

// Log formats (S3VOL_LOG_FORMAT).
const (
	// logText is logfmt with full timestamps, every line on one stream: for
	// a terminal, a service manager or a log file.
	logText = "text"
	// logDockerd is for a managed plugin, whose stdout and stderr dockerd
	// copies into its own log, one entry per line: at level info for stdout
	// and error for stderr, with dockerd's time, the plugin's id, and the
	// line quoted (moby 20.10 plugin/manager.go, makeLoggerStreams).
	logDockerd = "dockerd"
)

// newLogger is the logger of the commands (s3vol mount, volume, ...):
// logfmt lines with full timestamps on w, at level.
func newLogger(w io.Writer, level logrus.Level) *logrus.Logger {
	log := logrus.New()
	log.SetOutput(w)
	log.SetLevel(level)
	log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: "2006-01-02T15:04:05.000Z07:00", DisableColors: true})
	return log
}

// newDaemonLogger is the daemon's logger, at the configured level and
// format: in the text format every line goes to stdout; in the dockerd
// format errors go to stderr, so that dockerd logs them as errors, and the
// rest to stdout.
func newDaemonLogger(cfg *Config, stdout, stderr io.Writer) *logrus.Logger {
	if cfg.LogFormat != logDockerd {
		return newLogger(stdout, cfg.LogLevel)
	}
	log := logrus.New()
	log.SetLevel(cfg.LogLevel)
	// logrus writes to one output; the hook picks the stream by level.
	log.SetOutput(io.Discard)
	log.SetFormatter(discardFormatter{})
	log.AddHook(&streamByLevel{format: dockerdFormatter{}, out: stdout, errOut: stderr})
	return log
}

// streamByLevel writes each entry to errOut if it is an error (or worse),
// else to out.
type streamByLevel struct {
	format logrus.Formatter
	mu     sync.Mutex // one line at a time on each stream
	out    io.Writer
	errOut io.Writer
}

func (h *streamByLevel) Levels() []logrus.Level { return logrus.AllLevels }

func (h *streamByLevel) Fire(e *logrus.Entry) error {
	line, err := h.format.Format(e)
	if err != nil {
		return err
	}
	w := h.out
	if e.Level <= logrus.ErrorLevel {
		w = h.errOut
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err = w.Write(line)
	return err
}

// discardFormatter spares logrus formatting the lines that streamByLevel
// writes.
type discardFormatter struct{}

func (discardFormatter) Format(*logrus.Entry) ([]byte, error) { return nil, nil }

// dockerdFormatter writes a line that reads well inside dockerd's log entry,
// which adds the time, the level (info or error, from the stream) and the
// plugin's id, and quotes the line, escaping its quotes and backslashes.
// So the line has no time and quotes nothing itself: its own level first,
// the message, then the fields as key=value, the error last, as one line:
//
//	warning: docker call failed duration=56µs method=Create volume=x error=unknown option "colour"; ...
type dockerdFormatter struct{}

func (dockerdFormatter) Format(e *logrus.Entry) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(e.Level.String())
	b.WriteString(": ")
	b.WriteString(oneLine(e.Message))
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		if k != logrus.ErrorKey {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	if _, ok := e.Data[logrus.ErrorKey]; ok {
		keys = append(keys, logrus.ErrorKey)
	}
	for _, k := range keys {
		fmt.Fprintf(&b, " %s=%s", k, oneLine(fmt.Sprint(e.Data[k])))
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// oneLine keeps a value on the line: dockerd makes an entry of each line.
var oneLine = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace

// logFields describes the configuration for the start-up line; it never
// holds a secret (keys are reported only as present or not).
func (c *Config) logFields() logrus.Fields {
	store := "local:" + c.LocalStoreDir()
	if !c.LocalStore() {
		scheme := "https://"
		if !c.TLS {
			scheme = "http://"
		}
		store = scheme + c.Endpoint
	}
	return logrus.Fields{
		"store":       store,
		"bucket":      c.Bucket,
		"metaBucket":  c.metaBucketName(),
		"org":         c.Org,
		"socket":      c.Socket,
		"mountRoot":   c.MountRoot,
		"stateDir":    c.StateDir,
		"cacheDir":    c.CacheDir,
		"memory":      c.Memory,
		"metadataTTL": c.MetadataTTL,
		"leaseTTL":    c.LeaseTTL,
		"mountGrace":  c.MountGrace,
		"opTimeout":   c.OpTimeout,
		"callTimeout": c.CallTimeout,
		"credentials": c.credentialSource(),
		"httpAddr":    c.HTTPAddr,
	}
}

func (c *Config) metaBucketName() string {
	if c.MetaBucket == "" {
		return c.Bucket + "/" + MetaPrefix
	}
	return c.MetaBucket
}

func (c *Config) credentialSource() string {
	switch {
	case c.LocalStore():
		return "none (local store)"
	case c.AccessKey != "":
		return "static keys"
	}
	return "AWS/MinIO environment chain"
}
