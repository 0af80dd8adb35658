package jsonappend_test

import (
	"encoding/json"
	"testing"

	"github.com/coditect-ai/license-server/shared/jsonappend"
)

// appendCases are strings whose JSON form differs from their bytes in every
// way json.Marshal knows: quotes, escapes, control characters, the HTML
// characters it escapes, invalid UTF-8, and the line separators.
var appendCases = []string{"", "plain", "ey.J-_9", `a"b`, `a\b`, "tab\there", "nl\n", "\x00\x1f\x7f",
	"<script>&amp;", "héllo", "\xff\xfe", "\u2028\u2029", "emoji \U0001F600"}

func TestStringMatchesMarshal(t *testing.T) {
	t.Parallel()
	for _, s := range appendCases {
		checkAppendString(t, s)
	}
}

func FuzzString(f *testing.F) {
	for _, s := range appendCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) { checkAppendString(t, s) })
}

func checkAppendString(t *testing.T, s string) {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := jsonappend.String([]byte("x"), s); string(got) != "x"+string(want) {
		t.Errorf("String(%q) = %s, want x%s", s, got, want)
	}
}

func TestObject(t *testing.T) {
	t.Parallel()
	got := jsonappend.NewObject(nil).String("a", `q"`).Int("n", -3).Int64("big", -1<<63).Bool("ok", true).Bytes()
	if want := `{"a":"q\"","n":-3,"big":-9223372036854775808,"ok":true}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got := jsonappend.NewObject(nil).Bytes(); string(got) != "{}" {
		t.Errorf("empty object: %s", got)
	}
}
