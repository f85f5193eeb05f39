package gate

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"hallmark.dev/internal/jsonstrict"
)

// Exception is one entry of a .trivyignore.yaml file: a documented,
// expiring decision not to block on one finding.
//
// hallmark reads trivy's format (https://trivy.dev: "Filtering",
// .trivyignore.yaml) with stricter rules than trivy:
//
//   - id, statement and expired_at are required on every entry of every
//     section; expired_at is a date, YYYY-MM-DD;
//   - an entry expires at 00:00 UTC of its expired_at date: from then on it
//     is treated as absent and the finding blocks again;
//   - an entry with paths matches a finding only if one of the finding's
//     paths matches one pattern; an entry with purls matches only a
//     finding that has a package URL matching one of them (trivy matches a
//     finding without a package URL too);
//   - purls are allowed only under vulnerabilities;
//   - unknown sections or fields, repeated keys, anchors and aliases are
//     errors.
//
// The gate reads only the vulnerabilities section; entries under
// misconfigurations, secrets and licenses are checked by the same rules
// (the file is one policy document) and otherwise ignored.
type Exception struct {
	// Section is vulnerabilities, misconfigurations, secrets or licenses.
	Section string `json:"section"`
	// Index is the entry's position in its section, from 0.
	Index int `json:"index"`
	// Line is the entry's line in the file.
	Line      int      `json:"line"`
	ID        string   `json:"id"`
	Paths     []string `json:"paths,omitempty"`
	PURLs     []string `json:"purls,omitempty"`
	Statement string   `json:"statement"`
	// ExpiredAt is 00:00 UTC of the expiry date; JSON has the date,
	// expired_at: YYYY-MM-DD.
	ExpiredAt time.Time `json:"-"`

	purls []purl
}

// MarshalJSON writes the entry with its expiry date as the file has it.
func (e Exception) MarshalJSON() ([]byte, error) {
	type plain Exception
	return json.Marshal(struct {
		plain
		ExpiredAt string `json:"expired_at"`
	}{plain(e), e.Date()})
}

// Name identifies the entry in messages: section[index] (id, line N).
func (e Exception) Name() string {
	id := e.ID
	if id == "" {
		id = "no id"
	}
	return fmt.Sprintf("%s[%d] (%s, line %d)", e.Section, e.Index, id, e.Line)
}

// Expired reports whether the entry no longer applies at now: from 00:00
// UTC of its expiry date.
func (e Exception) Expired(now time.Time) bool { return !now.Before(e.ExpiredAt) }

// Date is the expiry date as written, YYYY-MM-DD.
func (e Exception) Date() string { return e.ExpiredAt.Format(time.DateOnly) }

// Exceptions is a parsed .trivyignore.yaml file.
type Exceptions struct {
	// Vulnerabilities are the entries the gate applies.
	Vulnerabilities []Exception
	// Others are the entries of the other sections, checked but not
	// applied by a CVE gate.
	Others []Exception
	// Digest is "sha256:" and the hex SHA-256 of the file.
	Digest string
}

var dateRE = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)

// exceptionsRules are the fields of an exceptions file: its sections, and
// in each section's entries (purls only for vulnerabilities).
var exceptionsRules = jsonstrict.Rules{
	Fields: jsonstrict.Fields{
		"":                    {"vulnerabilities", "misconfigurations", "secrets", "licenses"},
		"vulnerabilities[]":   {"id", "paths", "purls", "statement", "expired_at"},
		"misconfigurations[]": {"id", "paths", "statement", "expired_at"},
		"secrets[]":           {"id", "paths", "statement", "expired_at"},
		"licenses[]":          {"id", "paths", "statement", "expired_at"},
	},
	Name: named("exceptions file"),
}

// ParseExceptions reads a .trivyignore.yaml file. An empty file has no
// exceptions. Errors name the entry (section, index, id and line).
func ParseExceptions(data []byte) (*Exceptions, error) {
	root, err := parseYAML(data, exceptionsRules)
	if err != nil {
		return nil, fmt.Errorf("exceptions: %w", err)
	}
	sum := sha256.Sum256(data)
	ex := &Exceptions{Digest: "sha256:" + hex.EncodeToString(sum[:])}
	if root == nil {
		return ex, nil
	}
	sections, err := yamlMapping(root, "exceptions file")
	if err != nil {
		return nil, fmt.Errorf("exceptions: %w", err)
	}
	for _, s := range sections {
		items, err := yamlList(s)
		if err != nil {
			return nil, fmt.Errorf("exceptions: %w", err)
		}
		for i, item := range items {
			e, err := parseException(s.key, i, item)
			if err != nil {
				return nil, fmt.Errorf("exceptions: %s: %w", e.Name(), err)
			}
			if s.key == "vulnerabilities" {
				ex.Vulnerabilities = append(ex.Vulnerabilities, e)
			} else {
				ex.Others = append(ex.Others, e)
			}
		}
	}
	return ex, nil
}

func parseException(section string, index int, n *yaml.Node) (Exception, error) {
	e := Exception{Section: section, Index: index, Line: n.Line}
	fields, err := yamlMapping(n, "entry")
	if err != nil {
		return e, err
	}
	var date string
	var haveDate bool
	for _, f := range fields {
		switch f.key {
		case "id":
			if e.ID, err = yamlString(f); err != nil {
				return e, err
			}
		case "statement":
			if e.Statement, err = yamlString(f); err != nil {
				return e, err
			}
		case "expired_at":
			if date, err = yamlString(f); err != nil {
				return e, err
			}
			haveDate = true
		case "paths":
			if e.Paths, err = yamlStrings(f); err != nil {
				return e, err
			}
			for _, p := range e.Paths {
				if !validPattern(p) {
					return e, fmt.Errorf("line %d: path pattern %q is not valid", f.line, p)
				}
			}
		case "purls":
			if e.PURLs, err = yamlStrings(f); err != nil {
				return e, err
			}
			for _, s := range e.PURLs {
				p, err := parsePURL(s)
				if err != nil {
					return e, fmt.Errorf("line %d: purl %q: %v", f.line, s, err)
				}
				e.purls = append(e.purls, p)
			}
		}
	}
	switch {
	case e.ID == "" || strings.TrimSpace(e.ID) != e.ID:
		return e, fmt.Errorf("no id (or spaces around it)")
	case strings.TrimSpace(e.Statement) == "":
		return e, fmt.Errorf("no statement: every exception must say why the finding is accepted")
	case !haveDate:
		return e, fmt.Errorf("no expired_at: every exception must expire (expired_at: YYYY-MM-DD)")
	}
	if !dateRE.MatchString(date) {
		return e, fmt.Errorf("expired_at %q is not a date YYYY-MM-DD", date)
	}
	t, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return e, fmt.Errorf("expired_at %q is not a valid date: %v", date, err)
	}
	e.ExpiredAt = t.UTC()
	return e, nil
}

// matches reports whether the entry names the finding: the same id, and
// where the entry gives paths or purls, a path or package URL of the
// finding that matches one of them.
func (e Exception) matches(f Finding) bool {
	if e.ID != f.ID {
		return false
	}
	if len(e.Paths) > 0 {
		ok := false
		for _, pat := range e.Paths {
			for _, p := range f.Paths {
				ok = ok || matchPath(pat, p)
			}
		}
		if !ok {
			return false
		}
	}
	if len(e.purls) > 0 {
		if f.PURL == "" {
			return false
		}
		target, err := parsePURL(f.PURL)
		if err != nil {
			return false
		}
		ok := false
		for _, p := range e.purls {
			ok = ok || p.matches(target)
		}
		if !ok {
			return false
		}
	}
	return true
}
