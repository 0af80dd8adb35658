// Package logging writes structured JSON logs in the shape Cloud Logging
// reads from a container's stdout (severity, message, httpRequest, trace),
// one line per request.
package logging

import (
	"context"
	"io"
	"log/slog"
)

// New returns a JSON logger with Cloud Logging field names.
func New(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.MessageKey:
				a.Key = "message"
			case slog.LevelKey:
				a.Key = "severity"
				a.Value = slog.StringValue(severity(a.Value.Any().(slog.Level)))
			}
			return a
		},
	}))
}

func severity(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	default:
		return "DEBUG"
	}
}

// ParseLevel reads debug, info, warn or error (empty means info).
func ParseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, nil
	}
	err := l.UnmarshalText([]byte(s))
	return l, err
}

type ctxKey struct{}

// entry collects what the request line reports besides the HTTP fields.
type entry struct {
	err   error
	attrs []slog.Attr
}

// RecordError attaches the error that made a request fail to its log line.
// It is logged, never sent to the client.
func RecordError(ctx context.Context, err error) {
	if e, ok := ctx.Value(ctxKey{}).(*entry); ok {
		e.err = err
	}
}

// Annotate adds attributes to the request's log line.
func Annotate(ctx context.Context, attrs ...slog.Attr) {
	if e, ok := ctx.Value(ctxKey{}).(*entry); ok {
		e.attrs = append(e.attrs, attrs...)
	}
}
