package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// credentialKeys maps the key names accepted in a credentials file (ours,
// AWS's and our environment variables', case-insensitive) to a field.
var credentialKeys = map[string]string{
	"access_key": "access", "aws_access_key_id": "access", "s3vol_access_key": "access",
	"secret_key": "secret", "aws_secret_access_key": "secret", "s3vol_secret_key": "secret",
	"session_token": "token", "aws_session_token": "token",
}

// loadCredentials fills AccessKey and SecretKey from the credentials file
// unless they were set directly. A missing file is fine at its default
// location (the store then uses the AWS_*/MINIO_* chain) and an error when
// it was named explicitly.
func (c *Config) loadCredentials() error {
	if c.AccessKey != "" || c.SecretKey != "" {
		if c.AccessKey == "" || c.SecretKey == "" {
			return errors.New("S3VOL_ACCESS_KEY and S3VOL_SECRET_KEY must be set together (or use S3VOL_CREDENTIALS_FILE)")
		}
		return nil
	}
	if c.CredentialsFile == "" {
		return nil
	}
	access, secret, token, err := readCredentialsFile(c.CredentialsFile)
	if errors.Is(err, fs.ErrNotExist) && !c.credentialsSet {
		return nil
	}
	if err != nil {
		return fmt.Errorf("S3VOL_CREDENTIALS_FILE (--credentials-file): %w", err)
	}
	c.AccessKey, c.SecretKey, c.SessionToken = access, secret, token
	return nil
}

// readCredentialsFile reads "key = value" lines; '#' and ';' start comments.
// In a file with [sections] (an AWS credentials file) only [default] counts.
func readCredentialsFile(path string) (access, secret, token string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", "", fmt.Errorf("reading the credentials file: %w", err)
	}
	defer f.Close()
	values := map[string]string{}
	section := "default"
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return "", "", "", fmt.Errorf("%s line %d: expected key = value (keys: access_key, secret_key, session_token or their aws_* names)", path, n)
		}
		field, known := credentialKeys[strings.ToLower(strings.TrimSpace(k))]
		if known && section == "default" {
			values[field] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", "", fmt.Errorf("reading %s: %w", path, err)
	}
	if values["access"] == "" || values["secret"] == "" {
		return "", "", "", fmt.Errorf("%s must hold both access_key and secret_key (or aws_access_key_id and aws_secret_access_key)", path)
	}
	return values["access"], values["secret"], values["token"], nil
}
