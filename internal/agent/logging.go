package agent

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapToSlog returns a zap logger writing to l, so the collector's logs
// join the agent's.
func zapToSlog(l *slog.Logger) *zap.Logger {
	return zap.New(&slogCore{l: l})
}

// slogCore is a zapcore.Core forwarding entries to a slog.Logger.
type slogCore struct {
	l *slog.Logger
}

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	return c.l.Enabled(context.Background(), slogLevel(l))
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{l: c.l.With(attrs(fields)...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	args := attrs(fields)
	if e.LoggerName != "" {
		args = append(args, slog.String("logger", e.LoggerName))
	}
	c.l.Log(context.Background(), slogLevel(e.Level), e.Message, args...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

// attrs turns zap fields into slog attributes.
func attrs(fields []zapcore.Field) []any {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	out := make([]any, 0, len(enc.Fields))
	for _, k := range slices.Sorted(maps.Keys(enc.Fields)) {
		if k == "resource" {
			// The collector's own resource (a random instance id per
			// start): noise in the agent's log.
			continue
		}
		switch v := enc.Fields[k].(type) {
		case string, bool, int64, float64:
			out = append(out, slog.Any(k, v))
		default:
			out = append(out, slog.String(k, fmt.Sprint(v)))
		}
	}
	return out
}

// opampLogger adapts slog to the opamp-go client's logger.
type opampLogger struct{ l *slog.Logger }

func (o opampLogger) Debugf(ctx context.Context, format string, v ...any) {
	o.l.DebugContext(ctx, fmt.Sprintf(format, v...))
}

func (o opampLogger) Errorf(ctx context.Context, format string, v ...any) {
	o.l.WarnContext(ctx, fmt.Sprintf(format, v...))
}

// errorRecorder is a zapcore.Core remembering the latest error-level
// entry of one collector, e.g. the fatal error that stopped it, which the
// collector logs but does not return.
type errorRecorder struct {
	shared *recordedError
	fields []zapcore.Field
}

type recordedError struct {
	mu  sync.Mutex
	msg string
}

func newErrorRecorder() *errorRecorder { return &errorRecorder{shared: &recordedError{}} }

// last returns the latest error entry: its message and error field.
func (r *errorRecorder) last() string {
	r.shared.mu.Lock()
	defer r.shared.mu.Unlock()
	return r.shared.msg
}

func (r *errorRecorder) Enabled(l zapcore.Level) bool { return l >= zapcore.ErrorLevel }

func (r *errorRecorder) With(fields []zapcore.Field) zapcore.Core {
	return &errorRecorder{shared: r.shared, fields: append(slices.Clone(r.fields), fields...)}
}

func (r *errorRecorder) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if r.Enabled(e.Level) {
		return ce.AddCore(e, r)
	}
	return ce
}

func (r *errorRecorder) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range r.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	msg := e.Message
	if v, ok := enc.Fields["error"]; ok {
		msg += ": " + fmt.Sprint(v)
	}
	r.shared.mu.Lock()
	r.shared.msg = msg
	r.shared.mu.Unlock()
	return nil
}

func (r *errorRecorder) Sync() error { return nil }
