package server

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Defaults of the connection limits in Config.
const (
	DefaultReadHeaderTimeout = 30 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMinDataRate       = 1 << 10 // bytes per second
	DefaultDataRateGrace     = 10 * time.Second
	DefaultMaxConnections    = 512
)

// withLimitDefaults fills in the connection limits cfg leaves zero.
func withLimitDefaults(cfg Config) Config {
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MinDataRate == 0 {
		cfg.MinDataRate = DefaultMinDataRate
	}
	if cfg.DataRateGrace == 0 {
		cfg.DataRateGrace = DefaultDataRateGrace
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	return cfg
}

// checkLimits refuses negative connection limits.
func checkLimits(cfg Config) error {
	switch {
	case cfg.ReadHeaderTimeout < 0:
		return fmt.Errorf("server: negative read header timeout %s", cfg.ReadHeaderTimeout)
	case cfg.IdleTimeout < 0:
		return fmt.Errorf("server: negative idle timeout %s", cfg.IdleTimeout)
	case cfg.MinDataRate < 0:
		return fmt.Errorf("server: negative minimum data rate %d", cfg.MinDataRate)
	case cfg.DataRateGrace < 0:
		return fmt.Errorf("server: negative data rate grace period %s", cfg.DataRateGrace)
	case cfg.MaxConnections < 0:
		return fmt.Errorf("server: negative connection limit %d", cfg.MaxConnections)
	}
	return nil
}

// pace is the minimum data rate: a transfer of n bytes that started at
// start must be done by deadline(start, n).
type pace struct {
	rate  int64 // bytes per second
	grace time.Duration
}

// deadline is start + grace + n/rate.
func (p pace) deadline(start time.Time, n int64) time.Time {
	d := time.Duration(n/p.rate)*time.Second + time.Duration(n%p.rate)*time.Second/time.Duration(p.rate)
	return start.Add(p.grace).Add(d)
}

// paced serves h with the minimum data rate enforced on request bodies and
// responses: each must move, from its start, at least p.rate bytes per
// second on average once p.grace has passed, or its connection is cut.
// A slow upload that keeps the rate completes however long it takes; a
// body trickled below it, or a response its client does not take, holds
// its connection for little longer than the grace period.
//
// The rate is enforced with the connection's read and write deadlines,
// moved forward as bytes go through; the read deadline is cleared once the
// body is read to its end, so that the server's own wait for the client's
// next request, and the handler's work, are not timed.
func (p pace) paced(h http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// A deadline left by the previous response on this connection.
		rc.SetWriteDeadline(time.Time{}) // not supported: nothing to clear
		start := time.Now()
		if r.Body != nil && r.Body != http.NoBody {
			b := &pacedBody{body: r.Body, rc: rc, pace: p, start: start, req: r, logger: logger}
			b.arm()
			r.Body = b
		}
		h.ServeHTTP(&pacedWriter{ResponseWriter: w, rc: rc, pace: p, req: r, logger: logger}, r)
	})
}

// pacedBody is a request body read under the minimum data rate.
type pacedBody struct {
	body   io.ReadCloser
	rc     *http.ResponseController
	pace   pace
	start  time.Time
	n      int64
	done   bool
	req    *http.Request
	logger *slog.Logger
}

func (b *pacedBody) arm() {
	b.rc.SetReadDeadline(b.pace.deadline(b.start, b.n)) // not supported: unpaced
}

func (b *pacedBody) Read(p []byte) (int, error) {
	if b.done {
		return b.body.Read(p)
	}
	b.arm()
	n, err := b.body.Read(p)
	b.n += int64(n)
	switch {
	case err == io.EOF:
		b.done = true
		b.rc.SetReadDeadline(time.Time{})
	case isTimeout(err):
		b.done = true
		b.logger.WarnContext(b.req.Context(), "request body slower than the minimum rate: cut",
			"method", b.req.Method, "path", b.req.URL.Path, "remote", b.req.RemoteAddr,
			"bytes", b.n, "elapsed", time.Since(b.start).Round(time.Millisecond), "min_rate", b.pace.rate)
	}
	return n, err
}

func (b *pacedBody) Close() error { return b.body.Close() }

// pacedWriter is a response written under the minimum data rate, timed
// from its first byte of body.
type pacedWriter struct {
	http.ResponseWriter
	rc     *http.ResponseController
	pace   pace
	start  time.Time // of the first Write or Flush; zero before
	n      int64
	cut    bool
	req    *http.Request
	logger *slog.Logger
}

func (w *pacedWriter) arm() {
	if w.start.IsZero() {
		w.start = time.Now()
	}
	w.rc.SetWriteDeadline(w.pace.deadline(w.start, w.n)) // not supported: unpaced
}

func (w *pacedWriter) Write(p []byte) (int, error) {
	w.arm()
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	if isTimeout(err) && !w.cut {
		w.cut = true
		w.logger.WarnContext(w.req.Context(), "response slower than the minimum rate: cut",
			"method", w.req.Method, "path", w.req.URL.Path, "remote", w.req.RemoteAddr,
			"bytes", w.n, "elapsed", time.Since(w.start).Round(time.Millisecond), "min_rate", w.pace.rate)
	}
	return n, err
}

// Flush lets handlers that stream flush through the wrapper.
func (w *pacedWriter) Flush() {
	w.arm()
	w.rc.Flush() // an error means the client went away or is too slow
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *pacedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var _ http.Flusher = (*pacedWriter)(nil)

func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}
