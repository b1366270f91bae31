package registry

import (
	"fmt"
	"strings"
)

// Limits on names and paths.
const (
	// MaxNameLen is the longest volume, view or organization name accepted.
	// Docker itself has no limit; compose prefixes the project name, so
	// leave room for it.
	MaxNameLen = 128
	// MaxHostIDLen is the longest host id accepted.
	MaxHostIDLen = 128
	// MaxSubpathLen is the longest subpath accepted, in bytes.
	MaxSubpathLen = 1024
	// maxComponentLen is the longest subpath component (NAME_MAX).
	maxComponentLen = 255
)

const nameRule = "1 to 128 characters: letters, digits, '_', '.' and '-', starting with a letter or digit"

// ValidateName checks a volume or view name against Docker's own rule,
// [a-zA-Z0-9][a-zA-Z0-9_.-]*, with a length limit.
func ValidateName(name string) error {
	if why, ok := tokenProblem(name, MaxNameLen); !ok {
		return errorf(ErrInvalid, "invalid volume name %q: %sa name is %s", name, why, nameRule)
	}
	return nil
}

// ValidateOrg checks an organization name (same rule as volume names).
func ValidateOrg(org string) error {
	if why, ok := tokenProblem(org, MaxNameLen); !ok {
		return errorf(ErrInvalid, "invalid organization name %q: %sa name is %s", org, why, nameRule)
	}
	return nil
}

// ValidateHostID checks a host id (same characters as names).
func ValidateHostID(id string) error {
	if why, ok := tokenProblem(id, MaxHostIDLen); !ok {
		return errorf(ErrInvalid, "invalid host id %q: %sa host id is %s", id, why, nameRule)
	}
	return nil
}

// tokenProblem checks a name: ok is false when it breaks the rule. A name
// whose characters are fine but that is too long gets why, the numbers, to
// go before the rule in the message.
func tokenProblem(s string, maxLen int) (why string, ok bool) {
	if !validChars(s) {
		return "", false
	}
	if len(s) > maxLen {
		return fmt.Sprintf("too long: %d characters, at most %d; ", len(s), maxLen), false
	}
	return "", true
}

func validChars(s string) bool {
	if s == "" || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// ValidateSubpath checks a view's subpath: relative, already clean, checked
// component by component. It is refused rather than cleaned, so that what
// the user typed is exactly what is mounted.
func ValidateSubpath(p string) error {
	bad := func(why string) error {
		return errorf(ErrInvalid, "invalid subpath %q: %s; a subpath is a relative path such as "+
			"\"users/alice\" (no leading '/', no '.', '..' or empty components, at most %d bytes)",
			p, why, MaxSubpathLen)
	}
	switch {
	case p == "":
		return bad("it is empty")
	case len(p) > MaxSubpathLen:
		return bad(fmt.Sprintf("it is %d bytes long", len(p)))
	case strings.IndexByte(p, 0) >= 0:
		return bad("it contains a NUL byte")
	case p[0] == '/':
		return bad("it starts with '/'")
	}
	for _, c := range strings.Split(p, "/") {
		switch {
		case c == "":
			return bad("it has an empty component (\"//\" or a trailing '/')")
		case c == "." || c == "..":
			return bad(fmt.Sprintf("it has a %q component", c))
		case len(c) > maxComponentLen:
			return bad(fmt.Sprintf("a component is longer than %d bytes", maxComponentLen))
		}
	}
	return nil
}
