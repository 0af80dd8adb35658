package timestamp

import (
	"encoding/json"
	"testing"
	"time"
)

func TestJSON(t *testing.T) {
	t.Parallel()
	at := Of(time.Date(2026, 1, 2, 3, 4, 5, 600_000, time.FixedZone("X", 3600)))
	b, err := json.Marshal(struct {
		At  Time  `json:"at"`
		Nil *Time `json:"nil"`
	}{At: at})
	if err != nil || string(b) != `{"at":"2026-01-02T02:04:05.000Z","nil":null}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var back Time
	if err := json.Unmarshal([]byte(`"2026-01-02T02:04:05.000Z"`), &back); err != nil || !back.Equal(at.Truncate(time.Millisecond)) {
		t.Fatalf("Unmarshal = %v, %v", back, err)
	}
	if (&back).Scan("x") == nil || json.Unmarshal([]byte(`5`), &back) == nil {
		t.Fatal("bad input accepted")
	}
}
