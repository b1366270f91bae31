package main

import (
	"io"

	"github.com/sirupsen/logrus"
)

// newLogger is the daemon's logger: logfmt lines with full timestamps on w,
// at the configured level.
func newLogger(w io.Writer, level logrus.Level) *logrus.Logger {
	log := logrus.New()
	log.SetOutput(w)
	log.SetLevel(level)
	log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: "2006-01-02T15:04:05.000Z07:00", DisableColors: true})
	return log
}

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
