package schema

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
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
	root := gitOut(t, ".", "rev-parse", "--show-toplevel")
	tag, commit, note, err := lastRelease(root)
	if err != nil {
		t.Fatal(err)
	}
	if note != "" {
		t.Log(note)
	}
	released := map[string]string{}
	highest := 0
	for _, p := range strings.Fields(gitOut(t, root, "ls-tree", "--name-only", commit, "schema/")) {
		n := filepath.Base(p)
		if !strings.HasSuffix(n, ".sql") {
			continue
		}
		released[n] = gitOut(t, root, "show", commit+":"+p)
		if v := migrationVersion(t, n); v > highest {
			highest = v
		}
	}
	if len(released) == 0 {
		t.Fatalf("release %s (%s) has no migrations under schema/: is that the right commit?", tag, commit)
	}
	entries, err := fs.ReadDir(Files, ".")
	if err != nil {
		t.Fatal(err)
	}
	current := map[string]bool{}
	var added []string
	for _, e := range entries {
		n := e.Name()
		current[n] = true
		b, err := fs.ReadFile(Files, n)
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

// lastRelease is the newest release tag reachable from HEAD of the
// repository at root, and its commit; in a clone without tags, the release
// .ci/last-release records, if that commit is in the clone (note then says
// so, for the log). functions/cmd/devserver's mixed-version test has the
// same function: test packages share no code, and schema imports nothing.
func lastRelease(root string) (tag, commit, note string, err error) {
	describe := exec.Command("git", "describe", "--tags", "--abbrev=0", "--match", "v[0-9]*", "HEAD")
	describe.Dir = root
	if out, err := describe.Output(); err == nil {
		tag = strings.TrimSpace(string(out))
		resolve := exec.Command("git", "rev-parse", tag+"^{commit}")
		resolve.Dir = root
		out, err := resolve.Output()
		if err != nil {
			return "", "", "", fmt.Errorf("resolving tag %s: %w", tag, err)
		}
		return tag, strings.TrimSpace(string(out)), "", nil
	}
	file := filepath.Join(root, ".ci", "last-release")
	b, err := os.ReadFile(file)
	if err != nil {
		return "", "", "", fmt.Errorf("no v* tag is reachable from HEAD, and %w: fetch the tags (git fetch --tags)", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 || len(f[1]) != 40 {
			return "", "", "", fmt.Errorf("%s: want a line \"<tag> <40-hex commit>\", got %q", file, line)
		}
		tag, commit = f[0], f[1]
	}
	if commit == "" {
		return "", "", "", fmt.Errorf("no v* tag is reachable from HEAD, and %s names no release", file)
	}
	check := exec.Command("git", "cat-file", "-e", commit+"^{commit}")
	check.Dir = root
	if err := check.Run(); err != nil {
		return "", "", "", fmt.Errorf("no v* tag is reachable from HEAD, and %s's commit %s (%s) is not in this clone: "+
			"fetch the tags or the history (git fetch --tags, or git fetch --unshallow)", file, commit, tag)
	}
	return tag, commit, fmt.Sprintf("no v* tag is reachable from HEAD: using the release %s records, %s at %s", file, tag, commit), nil
}

// gitOut runs git in dir and returns its output, trimmed.
func gitOut(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("git %s (in %s): %v %s; this check needs git and the repository's history", strings.Join(args, " "), dir, err, stderr)
	}
	return strings.TrimSpace(string(out))
}

func TestLastRelease(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com",
			"-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	record := func(content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, ".ci"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ".ci", "last-release"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	record("# comment\n")
	git("add", ".")
	git("commit", "-qm", "first")
	first := git("rev-parse", "HEAD")

	// No tag and nothing recorded: a failure that says what to do.
	if _, _, _, err := lastRelease(dir); err == nil || !strings.Contains(err.Error(), "names no release") {
		t.Errorf("with no tag and no release recorded: %v, want an error saying so", err)
	}
	// A recorded commit the clone lacks.
	record("v0.9.0 " + strings.Repeat("ab", 20) + "\n")
	if _, _, _, err := lastRelease(dir); err == nil || !strings.Contains(err.Error(), "git fetch --tags") {
		t.Errorf("with the recorded commit missing: %v, want an error saying how to fetch it", err)
	}
	// A malformed line.
	record("v0.9.0 abc\n")
	if _, _, _, err := lastRelease(dir); err == nil || !strings.Contains(err.Error(), "40-hex") {
		t.Errorf("with a malformed line: %v, want an error naming the format", err)
	}
	// The recorded release, in a clone without tags.
	record("# the last release\nv0.9.0 " + first + "\n")
	if tag, commit, note, err := lastRelease(dir); err != nil || tag != "v0.9.0" || commit != first || note == "" {
		t.Errorf("with a release recorded: %q %q %q %v, want v0.9.0 %s and a note", tag, commit, note, err, first)
	}
	// A tag wins, HEAD itself included; the newest reachable one, and
	// only v<digit> tags.
	git("tag", "-a", "v1.0.0", "-m", "one")
	if tag, commit, note, err := lastRelease(dir); err != nil || tag != "v1.0.0" || commit != first || note != "" {
		t.Errorf("at the tag: %q %q %q %v, want v1.0.0 %s and no note", tag, commit, note, err, first)
	}
	git("commit", "-q", "--allow-empty", "-m", "second")
	git("tag", "vnext")
	git("tag", "v1.1.0")
	second := git("rev-parse", "HEAD")
	git("commit", "-q", "--allow-empty", "-m", "third")
	if tag, commit, _, err := lastRelease(dir); err != nil || tag != "v1.1.0" || commit != second {
		t.Errorf("after v1.1.0: %q %q %v, want v1.1.0 %s", tag, commit, err, second)
	}
}
