package apierror

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/seats"
)

// TestBorrowErrors: each borrow error of the seat engine, wrapped as the
// engine and its callers wrap them, answers its code and status.
func TestBorrowErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{seats.ErrBorrowNotAllowed, http.StatusForbidden, "borrow_not_allowed"},
		{seats.ErrSessionBorrowed, http.StatusConflict, "session_borrowed"},
		{seats.ErrNotBorrowed, http.StatusConflict, "not_borrowed"},
		{seats.ErrOtherDevice, http.StatusConflict, "other_device"},
		{seats.ErrProofUsed, http.StatusForbidden, "invalid_proof"},
		{&seats.BorrowLimitError{Borrowed: 3, MaxConcurrent: 3, Seats: 5}, http.StatusConflict, "borrow_limit"},
		{&seats.BorrowTooLongError{MaxSeconds: 3600}, http.StatusBadRequest, "invalid_request"},
		{fmt.Errorf("borrow until then: %w", seats.ErrInvalidBorrowEnd), http.StatusBadRequest, "invalid_request"},
	}
	for _, c := range cases {
		var he *httpjson.Error
		if !errors.As(Seats(fmt.Errorf("context: %w", c.err)), &he) || he.Status != c.status || he.Code != c.code {
			t.Errorf("%v: %+v, want %d %s", c.err, he, c.status, c.code)
		}
	}
	var he *httpjson.Error
	errors.As(Seats(&seats.BorrowLimitError{Borrowed: 3, MaxConcurrent: 3, MinOnlineSeats: 1, Seats: 5}), &he)
	if he.Extra["borrowed"] != 3 || he.Extra["max_concurrent"] != 3 || he.Extra["min_online_seats"] != 1 || he.Extra["seats_total"] != 5 {
		t.Errorf("borrow_limit extra = %v", he.Extra)
	}
	if !errors.Is(&seats.BorrowLimitError{}, seats.ErrBorrowLimit) {
		t.Error("BorrowLimitError is not ErrBorrowLimit")
	}
}
