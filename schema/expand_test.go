package schema_test

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/schema"
	"github.com/coditect-ai/license-server/shared/testenv"
)

// During a rollout the migrations run first, and the previous release's
// functions keep serving against the new schema until every one of them
// is replaced. So a migration added since the last release may only
// expand the schema: old code must still read and write every table it
// knows. It must not drop a table, view, sequence, type or column, rename
// anything, change a column's type, make an existing column NOT NULL
// without a default, or add a NOT NULL column without a default to an
// existing table (old INSERTs leave it out). Removing what the new code no
// longer uses is a later release's migration (contract), once no binary of
// the release before reads it.
//
// A statement that is safe all the same (say, dropping a table no
// released binary ever used) may say so in a comment inside it or just
// before it:
//
//	-- expand-only allow: <why it is safe for the previous release>
//
// This is a text check of the SQL, not a parser: it reads statements with
// comments, strings and dollar-quoted bodies (function bodies) masked.

// allowMarker starts a comment that lets the statement it is in or precedes
// through; a reason must follow it.
const allowMarker = "expand-only allow:"

// sqlStatement is one statement of a migration, normalised for matching.
type sqlStatement struct {
	// text is upper case, with string literals emptied, dollar-quoted
	// bodies replaced by $$ and whitespace collapsed to single spaces.
	text string
	// line is where the statement starts in the file (1-based).
	line int
	// allow is the reason an allow comment in or before it gave ("": none).
	allow string
}

var dollarTag = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)?\$`)

// splitSQL cuts a migration into statements at the semicolons outside
// comments, quotes and dollar-quoted bodies.
func splitSQL(src string) []sqlStatement {
	var out []sqlStatement
	var cur strings.Builder
	line, start := 1, 0
	allow := ""
	flush := func() {
		text := strings.Join(strings.Fields(strings.ToUpper(cur.String())), " ")
		if text != "" {
			out = append(out, sqlStatement{text: text, line: start, allow: allow})
			allow = ""
		}
		cur.Reset()
		start = 0
	}
	note := func(comment string) {
		if i := strings.Index(comment, allowMarker); i >= 0 {
			if reason := strings.TrimSpace(comment[i+len(allowMarker):]); reason != "" {
				allow = reason
			}
		}
	}
	// write adds statement text, remembering where the statement starts.
	write := func(s string) {
		if start == 0 && strings.TrimSpace(s) != "" {
			start = line
		}
		cur.WriteString(s)
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			cur.WriteByte(' ')
			line++
			i++
		case strings.HasPrefix(src[i:], "--"):
			end := strings.IndexByte(src[i:], '\n')
			if end < 0 {
				end = len(src) - i
			}
			note(src[i : i+end])
			cur.WriteByte(' ')
			i += end
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				end = len(src) - i - 2
			}
			body := src[i : i+2+end]
			note(body)
			line += strings.Count(body, "\n")
			cur.WriteByte(' ')
			i += end + 4
		case c == '\'' || c == '"':
			// A doubled quote inside is an escaped quote: the loop goes on
			// past it.
			j := i + 1
			for j < len(src) {
				if src[j] == c {
					if j+1 < len(src) && src[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			lit := src[i:min(j+1, len(src))]
			line += strings.Count(lit, "\n")
			if c == '"' {
				write(strings.ReplaceAll(lit, "\n", " ")) // an identifier: keep it
			} else {
				write("''")
			}
			i = j + 1
		case c == '$' && dollarTag.MatchString(src[i:]):
			tag := dollarTag.FindString(src[i:])
			end := strings.Index(src[i+len(tag):], tag)
			if end < 0 {
				end = len(src) - i - len(tag)
			}
			line += strings.Count(src[i:i+len(tag)+end], "\n")
			write(" $$ ")
			i += 2*len(tag) + end
		case c == ';':
			flush()
			i++
		default:
			write(string(c))
			i++
		}
	}
	flush()
	return out
}

// splitTopLevel cuts s at the commas outside parentheses.
func splitTopLevel(s string) []string {
	var out []string
	depth, from := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, strings.TrimSpace(s[from:i]))
				from = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[from:]))
}

var (
	dropObject  = regexp.MustCompile(`^DROP (TABLE|VIEW|MATERIALIZED VIEW|SCHEMA|SEQUENCE|TYPE|DOMAIN)\b`)
	createTable = regexp.MustCompile(`^CREATE (?:UNLOGGED )?TABLE (?:IF NOT EXISTS )?(\S+)`)
	alterTable  = regexp.MustCompile(`^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?(\S+) (.*)$`)
	anyAlter    = regexp.MustCompile(`^ALTER \w+`)
	rename      = regexp.MustCompile(`\bRENAME\b`)
	// Actions of ALTER TABLE.
	dropAction    = regexp.MustCompile(`^DROP (?:COLUMN )?(?:IF EXISTS )?(\S+)`)
	typeAction    = regexp.MustCompile(`^ALTER (?:COLUMN )?(\S+) (?:SET DATA )?TYPE\b`)
	notNullAction = regexp.MustCompile(`^ALTER (?:COLUMN )?(\S+) SET NOT NULL\b`)
	defaultAction = regexp.MustCompile(`^ALTER (?:COLUMN )?(\S+) SET DEFAULT\b`)
	addAction     = regexp.MustCompile(`^ADD (?:COLUMN )?(?:IF NOT EXISTS )?(\S+)(.*)$`)
	// An ADD whose first word is one of these adds a constraint, not a column.
	constraintWord = map[string]bool{"CONSTRAINT": true, "PRIMARY": true, "UNIQUE": true, "CHECK": true,
		"FOREIGN": true, "EXCLUDE": true}
)

// name is an identifier without quotes and without the public schema.
func name(s string) string {
	return strings.TrimPrefix(strings.ReplaceAll(s, `"`, ""), "PUBLIC.")
}

// contractions lists what in one migration's statements would break the
// previous release's code, each as "line N: what (statement)"; statements
// an allow comment lets through are left out.
func contractions(stmts []sqlStatement) []string {
	// The tables the migration creates, and the columns it gives a
	// default: making those NOT NULL breaks no old writer (an old INSERT
	// that leaves the column out gets the default).
	created := map[string]bool{}   // tables
	defaulted := map[string]bool{} // table.column
	for _, s := range stmts {
		if m := createTable.FindStringSubmatch(s.text); m != nil {
			created[name(m[1])] = true
		}
		if m := alterTable.FindStringSubmatch(s.text); m != nil {
			for _, a := range splitTopLevel(m[2]) {
				if d := defaultAction.FindStringSubmatch(a); d != nil {
					defaulted[name(m[1])+"."+name(d[1])] = true
				}
				if d := addAction.FindStringSubmatch(a); d != nil && !constraintWord[d[1]] && strings.Contains(d[2], "DEFAULT") {
					defaulted[name(m[1])+"."+name(d[1])] = true
				}
			}
		}
	}
	var out []string
	for _, s := range stmts {
		if s.allow != "" {
			continue
		}
		var why []string
		if m := dropObject.FindStringSubmatch(s.text); m != nil {
			why = append(why, "drops a "+strings.ToLower(m[1]))
		}
		if anyAlter.MatchString(s.text) && rename.MatchString(s.text) {
			why = append(why, "renames")
		}
		if m := alterTable.FindStringSubmatch(s.text); m != nil {
			table := name(m[1])
			for _, a := range splitTopLevel(m[2]) {
				if d := dropAction.FindStringSubmatch(a); d != nil && d[1] != "CONSTRAINT" {
					why = append(why, "drops column "+strings.ToLower(name(d[1])))
				}
				if d := typeAction.FindStringSubmatch(a); d != nil {
					why = append(why, "changes the type of column "+strings.ToLower(name(d[1])))
				}
				if d := notNullAction.FindStringSubmatch(a); d != nil && !created[table] && !defaulted[table+"."+name(d[1])] {
					why = append(why, "makes existing column "+strings.ToLower(name(d[1]))+" NOT NULL without a default")
				}
				if d := addAction.FindStringSubmatch(a); d != nil && !constraintWord[d[1]] && !created[table] &&
					strings.Contains(d[2], "NOT NULL") && !strings.Contains(d[2], "DEFAULT") &&
					!strings.Contains(d[2], "GENERATED") {
					why = append(why, "adds NOT NULL column "+strings.ToLower(name(d[1]))+" without a default")
				}
			}
		}
		for _, w := range why {
			text := s.text
			if len(text) > 120 {
				text = text[:120] + "..."
			}
			out = append(out, fmt.Sprintf("line %d: %s (%s)", s.line, w, text))
		}
	}
	return out
}

func TestContractionsFound(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, sql string
		want      []string // the reasons, in order; none: expand-only
	}{
		{"new table", `CREATE TABLE things (id uuid PRIMARY KEY, n int NOT NULL);`, nil},
		{"nullable column", `ALTER TABLE licenses ADD COLUMN note text;`, nil},
		{"column with a default", `ALTER TABLE licenses ADD COLUMN IF NOT EXISTS n int NOT NULL DEFAULT 0;`, nil},
		{"generated column", `ALTER TABLE t ADD COLUMN n int NOT NULL GENERATED ALWAYS AS (m + 1) STORED;`, nil},
		{"a check widened, as 015 does", `ALTER TABLE usage_events DROP CONSTRAINT usage_events_kind_check;
			ALTER TABLE usage_events ADD CONSTRAINT usage_events_kind_check CHECK (kind IN ('a', 'b'));`, nil},
		{"drop not null", `ALTER TABLE t ALTER COLUMN c DROP NOT NULL;`, nil},
		{"index and grant", `CREATE INDEX CONCURRENTLY i ON t (a, b); GRANT SELECT ON t TO license_app;`, nil},
		{"a function body is not the migration's", `CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $body$
			BEGIN DROP TABLE scratch; ALTER TABLE x RENAME TO y; END $body$;`, nil},
		{"words in strings and comments", `-- we never DROP TABLE here; nor RENAME
			COMMENT ON TABLE t IS 'DROP TABLE t; ALTER TABLE t RENAME TO u';`, nil},
		{"NOT NULL on a column given a default", `ALTER TABLE t ALTER COLUMN c SET DEFAULT 0;
			UPDATE t SET c = 0 WHERE c IS NULL; ALTER TABLE t ALTER COLUMN c SET NOT NULL;`, nil},
		{"NOT NULL on a column added here with a default", `ALTER TABLE t ADD COLUMN c int DEFAULT 0, ALTER COLUMN c SET NOT NULL;`, nil},
		{"NOT NULL on a column added here without one", `ALTER TABLE t ADD COLUMN c int; ALTER TABLE t ALTER COLUMN c SET NOT NULL;`,
			[]string{"makes existing column c NOT NULL without a default"}},
		{"NOT NULL column of a table made here", `CREATE TABLE t (id int); ALTER TABLE t ADD COLUMN c int NOT NULL;`, nil},
		{"allowed", `-- expand-only allow: no released binary ever read scratch
			DROP TABLE scratch;`, nil},
		{"an allow without a reason allows nothing", "-- expand-only allow:\nDROP TABLE scratch;",
			[]string{"drops a table"}},
		{"an allow covers one statement", `-- expand-only allow: scratch was never read
			DROP TABLE scratch; DROP TABLE other;`, []string{"drops a table"}},
		{"drop table", `DROP TABLE IF EXISTS licenses;`, []string{"drops a table"}},
		{"drop view", `drop view seats_view;`, []string{"drops a view"}},
		{"drop column", `ALTER TABLE licenses DROP COLUMN seats;`, []string{"drops column seats"}},
		{"drop column, the short form", `ALTER TABLE ONLY licenses DROP seats, ADD COLUMN n int;`, []string{"drops column seats"}},
		{"rename table", `ALTER TABLE licenses RENAME TO entitlements;`, []string{"renames"}},
		{"rename column", `ALTER TABLE "licenses" RENAME COLUMN seats TO seat_count;`, []string{"renames"}},
		{"rename an enum value", `ALTER TYPE kind RENAME VALUE 'a' TO 'b';`, []string{"renames"}},
		{"type change", `ALTER TABLE licenses ALTER COLUMN seats TYPE bigint;`, []string{"changes the type of column seats"}},
		{"type change, long form", "ALTER TABLE licenses\n  ALTER seats SET DATA TYPE bigint;",
			[]string{"changes the type of column seats"}},
		{"set not null", `ALTER TABLE licenses ALTER COLUMN product SET NOT NULL;`,
			[]string{"makes existing column product NOT NULL without a default"}},
		{"not null column without default", `ALTER TABLE licenses ADD COLUMN tier text NOT NULL;`,
			[]string{"adds NOT NULL column tier without a default"}},
		{"several in one statement", `ALTER TABLE t DROP COLUMN a, ALTER COLUMN b TYPE text, ADD CONSTRAINT c CHECK (x IN (1, 2));`,
			[]string{"drops column a", "changes the type of column b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := contractions(splitSQL(tc.sql))
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %d findings %q", got, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("finding %d is %q, want it to say %q", i, got[i], w)
				}
			}
		})
	}
}

func TestSplitSQLLines(t *testing.T) {
	t.Parallel()
	src := "-- header\nCREATE TABLE a (x text DEFAULT 'one;\ntwo');\n\n/* a\ncomment */ DROP TABLE b;\nSELECT $$\n;\n$$;"
	got := splitSQL(src)
	want := []struct {
		line int
		text string
	}{{2, "CREATE TABLE A (X TEXT DEFAULT '')"}, {6, "DROP TABLE B"}, {7, "SELECT $$"}}
	if len(got) != len(want) {
		t.Fatalf("got %d statements %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		if got[i].line != w.line || got[i].text != w.text {
			t.Errorf("statement %d: got line %d %q, want line %d %q", i, got[i].line, got[i].text, w.line, w.text)
		}
	}
}

// TestMigrationsSinceLastReleaseAreExpandOnly checks the migrations added
// since the last release (the newest v* tag reachable from HEAD, else
// .ci/last-release): each is expand-only, and numbered above every
// released one (the migrator applies what a database lacks, so a lower
// number added now would run after the higher ones in production but
// before them in a fresh database). The released migrations must be
// unchanged: a database that applied one never runs an edit of it.
func TestMigrationsSinceLastReleaseAreExpandOnly(t *testing.T) {
	t.Parallel()
	root := testenv.GitOutput(t, ".", "rev-parse", "--show-toplevel")
	tag, commit, note, err := testenv.LastRelease(root)
	if err != nil {
		t.Fatal(err)
	}
	if note != "" {
		t.Log(note)
	}
	released := map[string]string{}
	highest := 0
	for _, p := range strings.Fields(testenv.GitOutput(t, root, "ls-tree", "--name-only", commit, "schema/")) {
		n := filepath.Base(p)
		if !strings.HasSuffix(n, ".sql") {
			continue
		}
		released[n] = testenv.GitOutput(t, root, "show", commit+":"+p)
		if v := migrationVersion(t, n); v > highest {
			highest = v
		}
	}
	if len(released) == 0 {
		t.Fatalf("release %s (%s) has no migrations under schema/: is that the right commit?", tag, commit)
	}
	entries, err := fs.ReadDir(schema.Files, ".")
	if err != nil {
		t.Fatal(err)
	}
	current := map[string]bool{}
	var added []string
	for _, e := range entries {
		n := e.Name()
		current[n] = true
		b, err := fs.ReadFile(schema.Files, n)
		if err != nil {
			t.Fatal(err)
		}
		old, ok := released[n]
		if ok {
			// git show trims nothing, but a checkout may convert line
			// endings; compare the text, not the bytes of the ends.
			if strings.TrimSpace(strings.ReplaceAll(string(b), "\r\n", "\n")) != strings.TrimSpace(old) {
				t.Errorf("%s was released in %s and has changed since: a database that applied it never runs the change; "+
					"put the change in a new migration", n, tag)
			}
			continue
		}
		added = append(added, n)
		if v := migrationVersion(t, n); v <= highest {
			t.Errorf("%s is new since %s but numbered at or below %03d, the highest released migration: number it above", n, tag, highest)
		}
		for _, c := range contractions(splitSQL(string(b))) {
			t.Errorf("%s (new since %s) is not expand-only: %s; the previous release's functions run against this schema "+
				"during a rollout. Contract in a later release, or add a comment `-- %s <reason>` if it is safe", n, tag, c, allowMarker)
		}
	}
	for n := range released {
		if !current[n] {
			t.Errorf("%s was released in %s and is gone: released migrations stay", n, tag)
		}
	}
	t.Logf("%d released migrations (%s, %.12s) unchanged; %d added since, checked expand-only: %v",
		len(released), tag, commit, len(added), added)
}

func migrationVersion(t *testing.T, n string) int {
	t.Helper()
	digits, _, _ := strings.Cut(n, "_")
	v, err := strconv.Atoi(digits)
	if err != nil {
		t.Fatalf("migration %q is not named NNN_description.sql", n)
	}
	return v
}
