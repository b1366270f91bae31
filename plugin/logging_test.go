package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

// The dockerd format (issue 19.7) writes one line per entry with no time
// and no quoting of its own, its level first and the error last; errors go
// to the error stream, everything else to the output, in the level set.
func TestDockerdLogFormat(t *testing.T) {
	cfg := mustLoad(t, nil, map[string]string{"S3VOL_LOG_FORMAT": "dockerd", "S3VOL_LOG_LEVEL": "info"})
	var out, errOut bytes.Buffer
	log := newDaemonLogger(cfg, &out, &errOut)
	log.WithFields(logrus.Fields{"volume": "data", "method": "Create"}).WithError(errors.New("unknown option \"colour\"\nsecond line")).Warn("docker call failed")
	log.WithField("volume", "data").Error("unmounting failed")
	log.Debug("not at this level")

	wantOut := "warning: docker call failed method=Create volume=data error=unknown option \"colour\" second line\n"
	if out.String() != wantOut {
		t.Errorf("stdout holds %q, want %q", out.String(), wantOut)
	}
	if want := "error: unmounting failed volume=data\n"; errOut.String() != want {
		t.Errorf("stderr holds %q, want %q", errOut.String(), want)
	}
}

// The text format (the default) keeps logfmt with timestamps, every level
// on one stream; S3VOL_LOG_FORMAT refuses other names, saying which exist.
func TestTextLogFormatAndBadFormat(t *testing.T) {
	var out, errOut bytes.Buffer
	log := newDaemonLogger(mustLoad(t, nil, nil), &out, &errOut)
	log.Error("unmounting failed")
	if s := out.String(); !strings.HasPrefix(s, "time=") || !strings.Contains(s, `level=error msg="unmounting failed"`) || errOut.Len() > 0 {
		t.Errorf("the text format wrote %q to out and %q to errOut", s, errOut.String())
	}
	_, err := load(t, nil, map[string]string{"S3VOL_LOG_FORMAT": "json"})
	if err == nil || !strings.Contains(err.Error(), "S3VOL_LOG_FORMAT") || !strings.Contains(err.Error(), "text or dockerd") {
		t.Errorf("S3VOL_LOG_FORMAT=json: err %v, want it refused naming text and dockerd", err)
	}
}
