package registry

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"slices"

	"github.com/sirupsen/logrus"
)

// distribution finds its logger in the context, under the key type
// loggerKey of its internal dcontext package, and falls back to the
// process-wide logrus logger. That key cannot be named from outside the
// module, so distributionLoggerContext recognises it by its type. A test pins
// that distribution's records reach Config.Logger, so a distribution release
// that renames the key fails it.
const (
	dcontextPkgPath   = "github.com/distribution/distribution/v3/internal/dcontext"
	dcontextLoggerKey = "loggerKey"
)

// withDistributionLogger returns ctx in which distribution logs to entry.
func withDistributionLogger(ctx context.Context, entry *logrus.Entry) context.Context {
	return distributionLoggerContext{Context: ctx, entry: entry}
}

type distributionLoggerContext struct {
	context.Context
	entry *logrus.Entry
}

func (c distributionLoggerContext) Value(key any) any {
	if t := reflect.TypeOf(key); t != nil && t.Name() == dcontextLoggerKey && t.PkgPath() == dcontextPkgPath {
		return c.entry
	}
	return c.Context.Value(key)
}

// newLogrusBridge returns a logrus logger that prints nothing and forwards
// each record to logger at debug level, with distribution's level as the
// attribute distribution_level. A nil logger discards everything.
func newLogrusBridge(logger *slog.Logger) *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	l.SetFormatter(silentFormatter{})
	l.SetLevel(logrus.PanicLevel)
	if logger != nil {
		// Whether logger takes debug records is decided per record, so
		// a level that changes at run time is honoured.
		l.SetLevel(logrus.DebugLevel)
		l.AddHook(slogHook{logger: logger.With("component", "distribution")})
	}
	return logrus.NewEntry(l)
}

// silentFormatter spares logrus formatting records nobody reads.
type silentFormatter struct{}

func (silentFormatter) Format(*logrus.Entry) ([]byte, error) { return nil, nil }

type slogHook struct {
	logger *slog.Logger
}

func (slogHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h slogHook) Fire(e *logrus.Entry) error {
	ctx := e.Context
	if ctx == nil {
		ctx = context.Background()
	}
	if !h.logger.Enabled(ctx, slog.LevelDebug) {
		return nil
	}
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	attrs := make([]slog.Attr, 0, len(keys)+1)
	attrs = append(attrs, slog.String("distribution_level", e.Level.String()))
	for _, k := range keys {
		attrs = append(attrs, slog.Any(k, e.Data[k]))
	}
	h.logger.LogAttrs(ctx, slog.LevelDebug, e.Message, attrs...)
	return nil
}
