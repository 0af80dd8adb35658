package logging

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Requests logs one line per request: the function, the HTTP fields Cloud
// Logging shows as a request, the trace, and any error recorded on the way.
// projectID, when set, turns trace headers into Cloud Trace links.
func Requests(logger *slog.Logger, function, projectID string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		e := &entry{}
		rec := &recorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), ctxKey{}, e)))

		level := slog.LevelInfo
		if rec.status >= 500 {
			level = slog.LevelError
		}
		attrs := []slog.Attr{
			slog.String("function", function),
			// GroupValue, not slog.Group: Group converts its arguments
			// through ...any, half a kilobyte of garbage per request.
			{Key: "httpRequest", Value: slog.GroupValue(
				slog.String("requestMethod", r.Method),
				slog.String("requestUrl", r.URL.Path),
				slog.Int("status", rec.status),
				slog.Int64("responseSize", rec.bytes),
				slog.String("latency", strconv.FormatFloat(time.Since(start).Seconds(), 'f', 6, 64)+"s"),
				slog.String("userAgent", r.UserAgent()),
				slog.String("remoteIp", r.RemoteAddr),
			)},
		}
		if trace := traceID(r); trace != "" && projectID != "" {
			attrs = append(attrs, slog.String("logging.googleapis.com/trace", "projects/"+projectID+"/traces/"+trace))
		}
		if e.err != nil {
			attrs = append(attrs, slog.String("error", e.err.Error()))
		}
		attrs = append(attrs, e.attrs...)
		logger.LogAttrs(r.Context(), level, "request", attrs...)
	})
}

// traceID reads the W3C traceparent header, else Google's X-Cloud-Trace-Context.
func traceID(r *http.Request) string {
	if tp := r.Header.Get("traceparent"); tp != "" {
		parts := strings.Split(tp, "-")
		if len(parts) == 4 && len(parts[1]) == 32 && isHex(parts[1]) {
			return parts[1]
		}
	}
	if xc := r.Header.Get("X-Cloud-Trace-Context"); xc != "" {
		id, _, _ := strings.Cut(xc, "/")
		if len(id) == 32 && isHex(id) {
			return id
		}
	}
	return ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	r.wroteHeader = true
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
