package logserver

import "errors"

// Errors New returns; callers branch on them with errors.Is.
var (
	// ErrInvalidConfig means a Config field is missing or out of range.
	ErrInvalidConfig = errors.New("invalid log configuration")
	// ErrDirInUse means another Log, in this process or another, has the
	// directory open.
	ErrDirInUse = errors.New("log directory in use")
	// ErrKeyMismatch means the directory's key cannot be the log's: the
	// log exists but its key file is gone, the key is of another type than
	// Config.KeyType, or the published checkpoint is not signed by it.
	ErrKeyMismatch = errors.New("log key does not match the log")
	// ErrOriginChanged means the log's published checkpoint names another
	// origin than Config.Origin.
	ErrOriginChanged = errors.New("log origin changed")
)

// Errors Add returns; the HTTP handler maps them onto status codes.
var (
	// ErrInvalidEntry means the request is not an entry this log accepts:
	// malformed, of another kind than hashedrekord v0.0.2, too large, or
	// with a signature that does not verify (400).
	ErrInvalidEntry = errors.New("invalid entry")
	// ErrClosed means the Log has been closed (503).
	ErrClosed = errors.New("log closed")
)
