package metrics

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/attribute"
)

// pgKey is one label combination of the PostgreSQL instruments; function
// is empty for the latency histogram, which leaves it out to keep its
// series few.
type pgKey struct{ function, operation, status string }

func (k pgKey) attributes() []attribute.KeyValue {
	attrs := []attribute.KeyValue{attribute.String("operation", k.operation), attribute.String("status", k.status)}
	if k.function != "" {
		attrs = append(attrs, attribute.String("function", k.function))
	}
	return attrs
}

// PostgresTracer returns a pgx tracer (QueryTracer and BatchTracer) counting
// and timing statements, for database.WithTracer. A nil Metrics returns nil.
func (m *Metrics) PostgresTracer() pgx.QueryTracer {
	if m == nil {
		return nil
	}
	return &pgTracer{m: m}
}

type pgTracer struct{ m *Metrics }

type pgStartKey struct{}

type pgStart struct {
	at        time.Time
	operation string
}

var _ pgx.BatchTracer = (*pgTracer)(nil)

func (t *pgTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	return context.WithValue(ctx, pgStartKey{}, pgStart{at: time.Now(), operation: operation(data.SQL)})
}

func (t *pgTracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	s, ok := ctx.Value(pgStartKey{}).(pgStart)
	if !ok {
		return
	}
	t.record(ctx, s.operation, data.Err)
	t.m.pgDuration.Record(ctx, time.Since(s.at).Seconds(),
		t.m.pgAttrs.get(pgKey{operation: s.operation, status: status(data.Err)}, pgKey.attributes))
}

func (t *pgTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return context.WithValue(ctx, pgStartKey{}, pgStart{at: time.Now(), operation: "batch"})
}

// TraceBatchQuery counts each statement of a batch; the batch is timed as
// one round trip (operation "batch").
func (t *pgTracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	t.record(ctx, operation(data.SQL), data.Err)
}

func (t *pgTracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, data pgx.TraceBatchEndData) {
	if s, ok := ctx.Value(pgStartKey{}).(pgStart); ok {
		t.m.pgDuration.Record(ctx, time.Since(s.at).Seconds(),
			t.m.pgAttrs.get(pgKey{operation: s.operation, status: status(data.Err)}, pgKey.attributes))
	}
}

func (t *pgTracer) record(ctx context.Context, op string, err error) {
	t.m.pgQueries.Add(ctx, 1, t.m.pgAttrs.get(pgKey{function: functionOf(ctx), operation: op, status: status(err)}, pgKey.attributes))
}

// operation is the statement's first keyword, lower case, past leading
// white space and comments.
func operation(sql string) string {
	for {
		sql = strings.TrimLeft(sql, " \t\r\n(")
		switch {
		case strings.HasPrefix(sql, "--"):
			_, rest, found := strings.Cut(sql, "\n")
			if !found {
				return "other"
			}
			sql = rest
			continue
		case strings.HasPrefix(sql, "/*"):
			_, rest, found := strings.Cut(sql, "*/")
			if !found {
				return "other"
			}
			sql = rest
			continue
		}
		break
	}
	end := 0
	for end < len(sql) && end < 16 && isLetter(sql[end]) {
		end++
	}
	var buf [16]byte
	for i := 0; i < end; i++ {
		buf[i] = sql[i] | 0x20 // ASCII letters only: lower case
	}
	return knownOperation(string(buf[:end]))
}

// knownOperation keeps the operation label to SQL keywords: anything else
// is "other", so a label never carries SQL text.
func knownOperation(word string) string {
	switch word {
	case "select", "insert", "update", "delete", "with", "begin", "commit", "rollback", "set", "savepoint",
		"release", "copy", "create", "alter", "drop", "do", "lock", "show", "truncate", "grant", "revoke",
		"values", "call", "notify", "listen", "prepare", "execute", "deallocate", "analyze", "vacuum":
		return word
	}
	return "other"
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
