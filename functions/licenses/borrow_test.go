package licenses

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/httpjson/httpjsontest"
	"github.com/coditect-ai/license-server/shared/seats"
)

// TestBorrowPolicy: the borrow policy on create and PATCH: defaults filled
// in, null turns it off, bounds and unknown members refused with 400, and
// a tenant admin may set it (it is not a commercial term).
func TestBorrowPolicy(t *testing.T) {
	t.Parallel()
	week := seats.BorrowDefaultSeconds
	cases := []struct {
		name, borrow string
		want         *seats.BorrowPolicy // nil with ok: off
		ok           bool
	}{
		{"defaults", `{}`, &seats.BorrowPolicy{MaxSeconds: week}, true},
		{"all given", `{"max_seconds":3600,"max_concurrent":2,"min_online_seats":1}`,
			&seats.BorrowPolicy{MaxSeconds: 3600, MaxConcurrent: 2, MinOnlineSeats: 1}, true},
		{"90 days", `{"max_seconds":7776000,"min_online_seats":0}`, &seats.BorrowPolicy{MaxSeconds: 7776000}, true},
		{"null is off", `null`, nil, true},
		{"under an hour", `{"max_seconds":3599}`, nil, false},
		{"over 90 days", `{"max_seconds":7776001}`, nil, false},
		{"max_concurrent 0", `{"max_concurrent":0}`, nil, false},
		{"negative min_online_seats", `{"min_online_seats":-1}`, nil, false},
		{"unknown member", `{"max_seconds":3600,"days":3}`, nil, false},
		{"null member", `{"max_seconds":null}`, nil, false},
		{"string", `{"max_seconds":"3600"}`, nil, false},
		{"fraction", `{"max_seconds":3600.5}`, nil, false},
		{"not an object", `true`, nil, false},
	}
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			check := func(what string, f httpjson.Field[borrowPolicy], err error) {
				t.Helper()
				if !c.ok {
					var he *httpjson.Error
					if !errors.As(err, &he) || he.Status != http.StatusBadRequest {
						t.Fatalf("%s: %v, want 400", what, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				got, err := checkBorrow(f)
				if err != nil || (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
					t.Fatalf("%s: policy %+v, %v; want %+v", what, got, err, c.want)
				}
			}
			body := []byte(`{"product":"p","seats":3,"borrow":` + c.borrow + `}`)
			req, err := decodeCreate(httptest.NewRecorder(), httpjsontest.Request(http.MethodPost, "/", body), now)
			check("create", req.Borrow, err)
			// A tenant admin (platform false) may PATCH it.
			patch, err := decodePatch(httptest.NewRecorder(),
				httpjsontest.Request(http.MethodPatch, "/", []byte(`{"borrow":`+c.borrow+`}`)), false)
			check("patch", patch.Borrow, err)
			if err == nil && c.want == nil && !patch.Borrow.Null {
				t.Fatal("patch of null does not clear the policy")
			}
		})
	}
	// Absent on create: off.
	req, err := decodeCreate(httptest.NewRecorder(),
		httpjsontest.Request(http.MethodPost, "/", []byte(`{"product":"p","seats":3}`)), now)
	if err != nil || req.Borrow.Set {
		t.Fatalf("create without borrow = %+v, %v", req.Borrow, err)
	}
}
