package localstore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// File-name suffixes of the key tree (see the package comment).
const (
	suffixDir        = ".d"
	suffixObject     = ".o"
	suffixLongDir    = ".ld"
	suffixLongObject = ".lo"

	// maxEncodedName bounds an escaped component so that name plus suffix
	// stays well under NAME_MAX (255 bytes).
	maxEncodedName = 240
)

// Top-level folders of a store.
const (
	objectsDir = "objects"
	namesDir   = "names"
	tmpDir     = "tmp"
	uploadsDir = "uploads"
	locksDir   = "locks"
)

// escape makes a component safe as a file name: "%" becomes "%%" and NUL
// "%0"; "/" cannot occur inside a component.
func escape(c string) string {
	if !strings.ContainsAny(c, "%\x00") {
		return c
	}
	var b strings.Builder
	for i := 0; i < len(c); i++ {
		switch c[i] {
		case '%':
			b.WriteString("%%")
		case 0:
			b.WriteString("%0")
		default:
			b.WriteByte(c[i])
		}
	}
	return b.String()
}

// unescape reverses escape; ok is false for a name escape cannot produce.
func unescape(s string) (c string, ok bool) {
	if !strings.Contains(s, "%") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", false
		}
		i++
		switch s[i] {
		case '%':
			b.WriteByte('%')
		case '0':
			b.WriteByte(0)
		default:
			return "", false
		}
	}
	return b.String(), true
}

// component is one encoded key component: its file name and, for an
// over-long component, the hash under which names/ records its real name.
type component struct {
	name     string
	longHash string // "" unless the component is hashed
	real     string
}

// encodeComponent names component c as a directory or as an object file.
func encodeComponent(c string, dir bool) component {
	e := escape(c)
	if len(e) <= maxEncodedName {
		if dir {
			return component{name: e + suffixDir, real: c}
		}
		return component{name: e + suffixObject, real: c}
	}
	sum := sha256.Sum256([]byte(c))
	h := hex.EncodeToString(sum[:])
	if dir {
		return component{name: h + suffixLongDir, longHash: h, real: c}
	}
	return component{name: h + suffixLongObject, longHash: h, real: c}
}

// keyPath is where a key lives in the tree.
type keyPath struct {
	dir  string      // the object's parent directory, relative to the root
	file string      // the object file, relative to the root
	long []component // the hashed components, whose names must be recorded
}

// pathOf maps a key to its directory and object file.
func pathOf(key string) keyPath {
	parts := strings.Split(key, "/")
	var kp keyPath
	var b strings.Builder
	b.WriteString(objectsDir)
	for i, p := range parts {
		c := encodeComponent(p, i < len(parts)-1)
		if c.longHash != "" {
			kp.long = append(kp.long, c)
		}
		if i == len(parts)-1 {
			kp.dir = b.String()
		}
		b.WriteByte('/')
		b.WriteString(c.name)
	}
	kp.file = b.String()
	return kp
}

// dirOf maps a key prefix that ends in "/" (or is empty) to its directory.
func dirOf(prefix string) string {
	if prefix == "" {
		return objectsDir
	}
	parts := strings.Split(strings.TrimSuffix(prefix, "/"), "/")
	var b strings.Builder
	b.WriteString(objectsDir)
	for _, p := range parts {
		b.WriteByte('/')
		b.WriteString(encodeComponent(p, true).name)
	}
	return b.String()
}

// entry is a decoded directory entry of the key tree.
type entry struct {
	name  string // file name on disk
	comp  string // the key component it stands for
	isDir bool
}

// isObjectName and isDirName tell an entry's kind from its suffix alone.
func isObjectName(n string) bool {
	return strings.HasSuffix(n, suffixObject) || strings.HasSuffix(n, suffixLongObject)
}

func isDirName(n string) bool {
	return strings.HasSuffix(n, suffixDir) || strings.HasSuffix(n, suffixLongDir)
}

// decodeEntry turns a file name of the key tree back into its component.
// ok is false for names the tree never holds (left there by hand).
func (s *Store) decodeEntry(name string) (e entry, ok bool, err error) {
	e.name = name
	switch {
	case strings.HasSuffix(name, suffixLongDir), strings.HasSuffix(name, suffixLongObject):
		e.isDir = strings.HasSuffix(name, suffixLongDir)
		h := name[:len(name)-len(suffixLongDir)]
		if len(h) != 2*sha256.Size {
			return e, false, nil
		}
		e.comp, err = s.longName(h)
		if errors.Is(err, fs.ErrNotExist) {
			return e, false, nil
		}
		return e, err == nil, err
	case strings.HasSuffix(name, suffixDir), strings.HasSuffix(name, suffixObject):
		e.isDir = strings.HasSuffix(name, suffixDir)
		e.comp, ok = unescape(name[:len(name)-len(suffixDir)])
		return e, ok, nil
	}
	return e, false, nil
}

// longName reads the real name of a hashed component, cached.
func (s *Store) longName(hash string) (string, error) {
	if v, ok := s.names.Load(hash); ok {
		return v.(string), nil
	}
	b, err := s.root.ReadFile(namesDir + "/" + hash)
	if err != nil {
		return "", fmt.Errorf("reading the name of hashed key component %s: %w", hash, err)
	}
	s.names.Store(hash, string(b))
	return string(b), nil
}

// recordLongNames writes names/<hash> for every hashed component of a key
// before the key's entries appear, so a listing can always decode them.
func (s *Store) recordLongNames(kp keyPath) error {
	for _, c := range kp.long {
		if _, ok := s.names.Load(c.longHash); ok {
			continue
		}
		p := namesDir + "/" + c.longHash
		if _, err := s.root.Stat(p); err == nil {
			s.names.Store(c.longHash, c.real)
			continue
		}
		if err := s.writeFileAtomic(p, []byte(c.real)); err != nil {
			return fmt.Errorf("recording the name of a long key component: %w", err)
		}
		s.names.Store(c.longHash, c.real)
	}
	return nil
}
