package sharedstore

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Database is a parsed database URL:
// mysql://USER:PASSWORD@HOST:PORT/DB[?tls=true|false|skip-verify|preferred].
type Database struct {
	User, Password string
	// Addr is HOST:PORT; the port defaults to 3306.
	Addr string
	// Name is the database that holds hallmark's tables; the logs'
	// schemas are named after it (Name_log, Name_ctlog).
	Name string
	// TLS is the driver's tls parameter; empty means none.
	TLS string
}

// databaseName keeps room for the longest suffix (_ctlog) under MySQL's 64
// characters, and needs no quoting beyond backticks.
var databaseName = regexp.MustCompile(`^[A-Za-z0-9_]{1,58}$`)

// ParseDatabase parses a database URL. Errors never repeat the password.
func ParseDatabase(raw string) (Database, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Database{}, fmt.Errorf("database url: not a URL (want mysql://USER:PASSWORD@HOST:PORT/DB)")
	}
	if u.Scheme != "mysql" {
		return Database{}, fmt.Errorf("database url %s: scheme %q, want mysql://USER:PASSWORD@HOST:PORT/DB", Redact(raw), u.Scheme)
	}
	if u.User == nil || u.User.Username() == "" {
		return Database{}, fmt.Errorf("database url %s: no user (want mysql://USER:PASSWORD@HOST:PORT/DB)", Redact(raw))
	}
	if u.Hostname() == "" {
		return Database{}, fmt.Errorf("database url %s: no host", Redact(raw))
	}
	port := u.Port()
	if port == "" {
		port = "3306"
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return Database{}, fmt.Errorf("database url %s: port %q", Redact(raw), port)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if !databaseName.MatchString(name) {
		return Database{}, fmt.Errorf("database url %s: database name %q: want 1 to 58 letters, digits or underscores", Redact(raw), name)
	}
	if u.Fragment != "" {
		return Database{}, fmt.Errorf("database url %s: unexpected fragment", Redact(raw))
	}
	d := Database{User: u.User.Username(), Addr: net.JoinHostPort(u.Hostname(), port), Name: name}
	d.Password, _ = u.User.Password()
	for k, v := range u.Query() {
		switch {
		case k == "tls" && len(v) == 1 && (v[0] == "true" || v[0] == "false" || v[0] == "skip-verify" || v[0] == "preferred"):
			d.TLS = v[0]
		default:
			return Database{}, fmt.Errorf("database url %s: parameter %q: only tls=true|false|skip-verify|preferred is accepted", Redact(raw), k)
		}
	}
	return d, nil
}

// ObjectStore is a parsed object store URL:
// s3://BUCKET[?endpoint=URL][&path-style=true][&region=REGION].
type ObjectStore struct {
	Bucket string
	// Endpoint is the S3 service's base URL; empty means AWS's.
	Endpoint string
	// PathStyle addresses the bucket as ENDPOINT/BUCKET rather than
	// BUCKET.ENDPOINT, as most S3-compatible servers want.
	PathStyle bool
	// Region defaults to us-east-1.
	Region string
}

// bucketName is S3's rule for bucket names (3 to 63 lowercase letters,
// digits, dots and hyphens, starting and ending with a letter or digit).
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// DefaultRegion is the region of an object store URL that names none.
const DefaultRegion = "us-east-1"

// ParseObjectStore parses an object store URL.
func ParseObjectStore(raw string) (ObjectStore, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return ObjectStore{}, fmt.Errorf("object store url %s: not a URL (want s3://BUCKET?endpoint=URL&path-style=true&region=REGION)", Redact(raw))
	}
	if u.Scheme != "s3" {
		return ObjectStore{}, fmt.Errorf("object store url %s: scheme %q, want s3://BUCKET", Redact(raw), u.Scheme)
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return ObjectStore{}, fmt.Errorf("object store url %s: want s3://BUCKET with no user, path or fragment (credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)", Redact(raw))
	}
	if !bucketName.MatchString(u.Host) {
		return ObjectStore{}, fmt.Errorf("object store url %s: bucket name %q is not a valid S3 bucket name", Redact(raw), u.Host)
	}
	o := ObjectStore{Bucket: u.Host, Region: DefaultRegion}
	for k, v := range u.Query() {
		if len(v) != 1 {
			return ObjectStore{}, fmt.Errorf("object store url %s: parameter %q given %d times", Redact(raw), k, len(v))
		}
		switch k {
		case "endpoint":
			e, err := url.Parse(v[0])
			if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || e.User != nil || e.RawQuery != "" || (e.Path != "" && e.Path != "/") {
				return ObjectStore{}, fmt.Errorf("object store url %s: endpoint %s: want http(s)://HOST[:PORT]", Redact(raw), Redact(v[0]))
			}
			o.Endpoint = strings.TrimSuffix(v[0], "/")
		case "path-style":
			b, err := strconv.ParseBool(v[0])
			if err != nil {
				return ObjectStore{}, fmt.Errorf("object store url %s: path-style %q: want true or false", Redact(raw), v[0])
			}
			o.PathStyle = b
		case "region":
			if v[0] == "" {
				return ObjectStore{}, fmt.Errorf("object store url %s: empty region", Redact(raw))
			}
			o.Region = v[0]
		default:
			return ObjectStore{}, fmt.Errorf("object store url %s: unknown parameter %q (endpoint, path-style and region are accepted)", Redact(raw), k)
		}
	}
	return o, nil
}

// Redact returns a database or object store URL for messages: rebuilt
// from its parsed parts, with the password (an object store's whole user
// part) replaced and the values of the parameters that may be secrets
// withheld; a URL whose user part did not parse as one, or that does not
// parse at all, is withheld whole.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(a URL that does not parse, withheld)"
	}
	if _, rest, ok := strings.Cut(raw, "://"); ok && u.User == nil && strings.Contains(rest, "@") {
		return "(a URL with an @ outside its user part, withheld: it may hold a password)"
	}
	out := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	switch {
	case u.User == nil:
	case u.Scheme != "mysql":
		out.User = url.User("xxxxx")
	default:
		if _, ok := u.User.Password(); ok {
			out.User = url.UserPassword(u.User.Username(), "xxxxx")
		} else {
			out.User = url.User(u.User.Username())
		}
	}
	q := url.Values{}
	for k, vs := range u.Query() {
		for _, v := range vs {
			if !safeParameters[k] {
				v = "xxxxx"
			} else if k == "endpoint" {
				v = Redact(v)
			}
			q.Add(k, v)
		}
	}
	out.RawQuery = q.Encode()
	return out.String()
}

// safeParameters are the parameters whose values hold no secret.
var safeParameters = map[string]bool{"tls": true, "endpoint": true, "path-style": true, "region": true}
