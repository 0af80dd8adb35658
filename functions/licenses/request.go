package licenses

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/licenses"
	"github.com/coditect-ai/license-server/shared/seats"
)

// Limits on what a license may say.
const (
	MaxSeats        = 100000
	MaxLeaseTTL     = 86400
	DefaultLeaseTTL = 300
	// MaxLingerSeconds and MaxReviveSeconds bound the linger and revive
	// policies (schema/014's checks).
	MaxLingerSeconds = 86400
	MaxReviveSeconds = 900
	// MaxOveragePercent bounds a percent overage policy (ten times the
	// seats); an absolute one is bounded by MaxSeats.
	MaxOveragePercent = 1000
	// maxSessionsListed bounds one sessions listing.
	maxSessionsListed = 1000
)

var productPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$`)

type createRequest struct {
	RequireUser     bool   `json:"require_user"`
	MaxSeatsPerUser *int   `json:"max_seats_per_user"`
	Leasing         string `json:"leasing"`
	Product         string `json:"product"`

	MaxInstancesPerSeat *int                      `json:"max_instances_per_seat"`
	Seats               httpjson.Field[int]       `json:"seats"`
	LeaseTTLSeconds     httpjson.Field[int]       `json:"lease_ttl_seconds"`
	ExpiresAt           httpjson.Field[time.Time] `json:"expires_at"`

	MaxLeaseTTLSeconds httpjson.Field[int] `json:"max_lease_ttl_seconds"`
	// LingerSeconds and ReviveSeconds: absent is 0 (off); null is refused.
	LingerSeconds httpjson.Field[int] `json:"linger_seconds"`
	ReviveSeconds httpjson.Field[int] `json:"revive_seconds"`
	// Overage: absent is none; null is refused.
	Overage httpjson.Field[overagePolicy] `json:"overage"`
	// Borrow: absent or null is off.
	Borrow httpjson.Field[borrowPolicy] `json:"borrow"`
	// AutoRenew: absent or null is off.
	AutoRenew httpjson.Field[autoRenew] `json:"auto_renew"`
}

// borrowPolicy is the borrow (offline checkout) policy as the API takes
// it: {"max_seconds" (default seats.BorrowDefaultSeconds, between
// seats.BorrowMinSeconds and seats.BorrowMaxSeconds), "max_concurrent"
// (at least 1; absent: all seats), "min_online_seats" (0 or more; absent:
// 0)}. It says how a tenant's seats are used, not what is billed, so a
// tenant admin may set it, like linger_seconds. The API shows it as
// seats.BorrowPolicy, max_concurrent 0 meaning all seats.
type borrowPolicy struct {
	MaxSeconds     *int `json:"max_seconds"`
	MaxConcurrent  *int `json:"max_concurrent"`
	MinOnlineSeats *int `json:"min_online_seats"`
}

// borrowShape is the refusal of a policy that is not an object of the
// three members, each a number.
var borrowShape = &httpjson.FieldError{Field: "borrow",
	Problem: `must be {"max_seconds": n, "max_concurrent": n, "min_online_seats": n} (each optional) or null, and nothing else`}

// UnmarshalJSON reads the policy strictly: an unknown member, or a member
// that is null (absent already means its default), is refused.
func (b *borrowPolicy) UnmarshalJSON(raw []byte) error {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		return borrowShape
	}
	for _, v := range members {
		if string(bytes.TrimSpace(v)) == "null" {
			return borrowShape
		}
	}
	type plain borrowPolicy
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	var p plain
	if err := d.Decode(&p); err != nil {
		return borrowShape
	}
	*b = borrowPolicy(p)
	return nil
}

// checkBorrow holds a policy to its bounds and returns it as the seat
// engine takes it, defaults filled in; nil for null (borrowing off).
func checkBorrow(f httpjson.Field[borrowPolicy]) (*seats.BorrowPolicy, error) {
	if f.Null {
		return nil, nil
	}
	p := seats.BorrowPolicy{MaxSeconds: seats.BorrowDefaultSeconds}
	if v := f.Value.MaxSeconds; v != nil {
		if *v < seats.BorrowMinSeconds || *v > seats.BorrowMaxSeconds {
			return nil, httpjson.Invalid(`field "borrow.max_seconds" must be between %d and %d`,
				seats.BorrowMinSeconds, seats.BorrowMaxSeconds)
		}
		p.MaxSeconds = *v
	}
	if v := f.Value.MaxConcurrent; v != nil {
		if *v < 1 || *v > MaxSeats {
			return nil, httpjson.Invalid(`field "borrow.max_concurrent" must be between 1 and %d (leave it out for all seats)`, MaxSeats)
		}
		p.MaxConcurrent = *v
	}
	if v := f.Value.MinOnlineSeats; v != nil {
		if *v < 0 || *v > MaxSeats {
			return nil, httpjson.Invalid(`field "borrow.min_online_seats" must be between 0 and %d`, MaxSeats)
		}
		p.MinOnlineSeats = *v
	}
	return &p, nil
}

// autoRenew is the renewal policy as the API takes and shows it:
// {"period": "P1M"|"P1Y"}; null (or absent) is off. On the expiry day the
// license's expires_at moves on by whole periods (schema/021).
type autoRenew struct {
	Period string `json:"period"`
}

// UnmarshalJSON reads the policy strictly, as overagePolicy's.
func (a *autoRenew) UnmarshalJSON(b []byte) error {
	type plain autoRenew
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var p plain
	if err := d.Decode(&p); err != nil || (p.Period != "P1M" && p.Period != "P1Y") {
		return &httpjson.FieldError{Field: "auto_renew", Problem: `must be {"period": "P1M"|"P1Y"} or null`}
	}
	*a = autoRenew(p)
	return nil
}

// autoRenewPeriod is the period a request sets (nil: off).
func autoRenewPeriod(f httpjson.Field[autoRenew]) *string {
	if !f.Set || f.Null {
		return nil
	}
	p := f.Value.Period
	return &p
}

// overagePolicy is the overage policy as the API takes and shows it:
// {"mode": "none"|"percent"|"absolute"|"unlimited", "value": N}. value is
// the percent or the count of seats beyond the license's; 0 (and may be
// left out) for none and unlimited.
type overagePolicy struct {
	Mode  string `json:"mode"`
	Value int    `json:"value"`
}

// UnmarshalJSON reads the policy strictly: an unknown member is refused
// as at the top level (httpjson.Field decodes its value leniently).
func (o *overagePolicy) UnmarshalJSON(b []byte) error {
	type plain overagePolicy
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var p plain
	if err := d.Decode(&p); err != nil {
		return &httpjson.FieldError{Field: "overage",
			Problem: `must be {"mode": "none"|"percent"|"absolute"|"unlimited", "value": n} and nothing else`}
	}
	*o = overagePolicy(p)
	return nil
}

// checkOverage holds the policy to what the allowance can mean.
func checkOverage(f httpjson.Field[overagePolicy]) error {
	if f.Null {
		return httpjson.Invalid(`field "overage" cannot be null; {"mode": "none"} turns overage off`)
	}
	o := f.Value
	switch o.Mode {
	case seats.OverageNone, seats.OverageUnlimited:
		if o.Value != 0 {
			return httpjson.Invalid(`field "overage.value" must be 0 (or left out) for mode %q`, o.Mode)
		}
	case seats.OveragePercent:
		if o.Value < 1 || o.Value > MaxOveragePercent {
			return httpjson.Invalid(`field "overage.value" must be between 1 and %d percent`, MaxOveragePercent)
		}
	case seats.OverageAbsolute:
		if o.Value < 1 || o.Value > MaxSeats {
			return httpjson.Invalid(`field "overage.value" must be between 1 and %d seats`, MaxSeats)
		}
	default:
		return httpjson.Invalid(`field "overage.mode" must be "none", "percent", "absolute" or "unlimited"`)
	}
	return nil
}

func decodeCreate(w http.ResponseWriter, r *http.Request, now time.Time) (createRequest, error) {
	var req createRequest
	if err := httpjson.Decode(w, r, &req); err != nil {
		return req, err
	}
	if !productPattern.MatchString(req.Product) {
		return req, httpjson.Invalid(`field "product" must be 1-100 letters, digits, or . _ : - (starting with a letter or digit)`)
	}
	if !req.Seats.Set || req.Seats.Null {
		return req, httpjson.Invalid(`field "seats" is required`)
	}
	if err := checkSeats(req.Seats.Value); err != nil {
		return req, err
	}
	if req.MaxLeaseTTLSeconds.Null {
		return req, httpjson.Invalid(`field "max_lease_ttl_seconds" cannot be null; leave it out for the default %d`, MaxLeaseTTL)
	}
	if !req.MaxLeaseTTLSeconds.Set {
		req.MaxLeaseTTLSeconds.Value = MaxLeaseTTL
	}
	if err := checkMaxTTL(req.MaxLeaseTTLSeconds.Value); err != nil {
		return req, err
	}
	if req.LeaseTTLSeconds.Null {
		return req, httpjson.Invalid(`field "lease_ttl_seconds" cannot be null; leave it out for the default %d`, DefaultLeaseTTL)
	}
	if !req.LeaseTTLSeconds.Set {
		// The default fits under any ceiling the platform chose.
		req.LeaseTTLSeconds.Value = min(DefaultLeaseTTL, req.MaxLeaseTTLSeconds.Value)
	}
	if err := checkTTL(req.LeaseTTLSeconds.Value); err != nil {
		return req, err
	}
	if req.LeaseTTLSeconds.Value > req.MaxLeaseTTLSeconds.Value {
		return req, overMax()
	}
	if req.ExpiresAt.Set && !req.ExpiresAt.Null && !req.ExpiresAt.Value.After(now) {
		return req, httpjson.Invalid(`field "expires_at" must be in the future`)
	}
	if req.Leasing == "" {
		req.Leasing = licenses.PerFingerprint
	}
	if err := checkLeasing(req.Leasing); err != nil {
		return req, err
	}
	if req.MaxSeatsPerUser != nil {
		if err := checkMaxPerUser(*req.MaxSeatsPerUser); err != nil {
			return req, err
		}
	}
	if req.MaxInstancesPerSeat != nil {
		if err := checkMaxInstances(*req.MaxInstancesPerSeat); err != nil {
			return req, err
		}
	}
	if req.LingerSeconds.Null || req.ReviveSeconds.Null {
		return req, httpjson.Invalid(`fields "linger_seconds" and "revive_seconds" cannot be null; 0 turns them off`)
	}
	if err := checkLinger(req.LingerSeconds.Value); err != nil {
		return req, err
	}
	if err := checkRevive(req.ReviveSeconds.Value); err != nil {
		return req, err
	}
	if req.Overage.Set {
		if err := checkOverage(req.Overage); err != nil {
			return req, err
		}
	} else {
		req.Overage.Value.Mode = seats.OverageNone
	}
	if req.Borrow.Set {
		if _, err := checkBorrow(req.Borrow); err != nil {
			return req, err
		}
	}
	return req, nil
}

// patchRequest is a PATCH of a license. Seats, Status, ExpiresAt,
// MaxLeaseTTLSeconds, Overage and AutoRenew are commercial terms, the platform's alone; the other
// fields say how the tenant uses its seats, and its admins may set them.
type patchRequest struct {
	RequireUser     httpjson.Field[bool]   `json:"require_user"`
	MaxSeatsPerUser httpjson.Field[int]    `json:"max_seats_per_user"`
	Leasing         httpjson.Field[string] `json:"leasing"`
	Seats           httpjson.Field[int]    `json:"seats"`

	MaxInstancesPerSeat httpjson.Field[int]       `json:"max_instances_per_seat"`
	Status              httpjson.Field[string]    `json:"status"`
	LeaseTTLSeconds     httpjson.Field[int]       `json:"lease_ttl_seconds"`
	ExpiresAt           httpjson.Field[time.Time] `json:"expires_at"`

	MaxLeaseTTLSeconds httpjson.Field[int] `json:"max_lease_ttl_seconds"`
	LingerSeconds      httpjson.Field[int] `json:"linger_seconds"`
	ReviveSeconds      httpjson.Field[int] `json:"revive_seconds"`
	// Overage replaces the whole policy.
	Overage httpjson.Field[overagePolicy] `json:"overage"`
	// Borrow replaces the whole policy (members left out take their
	// defaults); null turns borrowing off.
	Borrow httpjson.Field[borrowPolicy] `json:"borrow"`
	// AutoRenew sets the renewal period; null turns renewal off.
	AutoRenew httpjson.Field[autoRenew] `json:"auto_renew"`
}

// decodePatch reads a PATCH. A caller that is not the platform (platform
// false) naming any commercial term is refused whole with 403, before its
// values are looked at: a request mixing usage and commercial fields
// changes nothing, rather than half of what it asked.
func decodePatch(w http.ResponseWriter, r *http.Request, platform bool) (patchRequest, error) {
	var req patchRequest
	if err := httpjson.Decode(w, r, &req); err != nil {
		return req, err
	}
	if !req.Seats.Set && !req.Status.Set && !req.LeaseTTLSeconds.Set && !req.ExpiresAt.Set &&
		!req.RequireUser.Set && !req.MaxSeatsPerUser.Set && !req.Leasing.Set && !req.MaxLeaseTTLSeconds.Set &&
		!req.MaxInstancesPerSeat.Set && !req.LingerSeconds.Set && !req.ReviveSeconds.Set && !req.Overage.Set &&
		!req.Borrow.Set && !req.AutoRenew.Set {
		return req, httpjson.Invalid("nothing to change: send seats, status, lease_ttl_seconds, expires_at, " +
			"require_user, max_seats_per_user, max_instances_per_seat, linger_seconds, revive_seconds, leasing, " +
			"max_lease_ttl_seconds, overage, borrow or auto_renew")
	}
	if !platform && (req.Seats.Set || req.Status.Set || req.ExpiresAt.Set || req.MaxLeaseTTLSeconds.Set || req.Overage.Set ||
		req.AutoRenew.Set) {
		return req, termsForbidden()
	}
	if req.Seats.Null || req.Status.Null || req.LeaseTTLSeconds.Null || req.RequireUser.Null || req.Leasing.Null ||
		req.MaxLeaseTTLSeconds.Null || req.LingerSeconds.Null || req.ReviveSeconds.Null {
		return req, httpjson.Invalid("only expires_at, max_seats_per_user, max_instances_per_seat, borrow and auto_renew may be null " +
			"(0 turns linger_seconds and revive_seconds off)")
	}
	if req.MaxLeaseTTLSeconds.Set {
		if err := checkMaxTTL(req.MaxLeaseTTLSeconds.Value); err != nil {
			return req, err
		}
		// Both in one request: checked here. One alone is checked
		// against the stored other by the database (schema/009).
		if req.LeaseTTLSeconds.Set && req.LeaseTTLSeconds.Value > req.MaxLeaseTTLSeconds.Value {
			return req, overMax()
		}
	}
	if req.Leasing.Set {
		if err := checkLeasing(req.Leasing.Value); err != nil {
			return req, err
		}
	}
	if req.MaxSeatsPerUser.Set && !req.MaxSeatsPerUser.Null {
		if err := checkMaxPerUser(req.MaxSeatsPerUser.Value); err != nil {
			return req, err
		}
	}
	if req.MaxInstancesPerSeat.Set && !req.MaxInstancesPerSeat.Null {
		if err := checkMaxInstances(req.MaxInstancesPerSeat.Value); err != nil {
			return req, err
		}
	}
	if req.LingerSeconds.Set {
		if err := checkLinger(req.LingerSeconds.Value); err != nil {
			return req, err
		}
	}
	if req.ReviveSeconds.Set {
		if err := checkRevive(req.ReviveSeconds.Value); err != nil {
			return req, err
		}
	}
	if req.Overage.Set {
		if err := checkOverage(req.Overage); err != nil {
			return req, err
		}
	}
	if req.Borrow.Set {
		if _, err := checkBorrow(req.Borrow); err != nil {
			return req, err
		}
	}
	if req.Seats.Set {
		if err := checkSeats(req.Seats.Value); err != nil {
			return req, err
		}
	}
	if req.LeaseTTLSeconds.Set {
		if err := checkTTL(req.LeaseTTLSeconds.Value); err != nil {
			return req, err
		}
	}
	if req.Status.Set && req.Status.Value != "active" && req.Status.Value != "suspended" {
		return req, httpjson.Invalid(`field "status" must be "active" or "suspended"`)
	}
	return req, nil
}

func checkSeats(n int) error {
	if n < 1 || n > MaxSeats {
		return httpjson.Invalid(`field "seats" must be between 1 and %d`, MaxSeats)
	}
	return nil
}

func checkLeasing(s string) error {
	if s != licenses.PerFingerprint && s != licenses.PerUser {
		return httpjson.Invalid(`field "leasing" must be "per_fingerprint" or "per_user"`)
	}
	return nil
}

func checkMaxPerUser(n int) error {
	if n < 1 || n > MaxSeats {
		return httpjson.Invalid(`field "max_seats_per_user" must be between 1 and %d`, MaxSeats)
	}
	return nil
}

// checkMaxInstances holds max_instances_per_seat to what the seat scripts
// can honour: at most seats.MaxHoldersPerSeat holders per seat.
func checkMaxInstances(n int) error {
	if n < 1 || n > seats.MaxHoldersPerSeat {
		return httpjson.Invalid(`field "max_instances_per_seat" must be between 1 and %d`, seats.MaxHoldersPerSeat)
	}
	return nil
}

func checkLinger(n int) error {
	if n < 0 || n > MaxLingerSeconds {
		return httpjson.Invalid(`field "linger_seconds" must be between 0 and %d`, MaxLingerSeconds)
	}
	return nil
}

func checkRevive(n int) error {
	if n < 0 || n > MaxReviveSeconds {
		return httpjson.Invalid(`field "revive_seconds" must be between 0 and %d`, MaxReviveSeconds)
	}
	return nil
}

func checkMaxTTL(n int) error {
	if n < 1 || n > MaxLeaseTTL {
		return httpjson.Invalid(`field "max_lease_ttl_seconds" must be between 1 and %d`, MaxLeaseTTL)
	}
	return nil
}

// overMax is the answer to a lease TTL over the license's ceiling.
func overMax() error {
	return httpjson.Invalid(`field "lease_ttl_seconds" must not exceed the license's max_lease_ttl_seconds, ` +
		`which only the platform sets`)
}

// termsForbidden is the answer to a tenant role changing commercial terms.
func termsForbidden() error {
	return httpjson.Errorf(http.StatusForbidden, "forbidden", "creating and deleting licenses and changing seats, "+
		"status, expires_at, max_lease_ttl_seconds or overage are the platform's; a tenant admin may change require_user, "+
		"max_seats_per_user, max_instances_per_seat, linger_seconds, revive_seconds, leasing, borrow and lease_ttl_seconds")
}

func checkTTL(n int) error {
	if n < 1 || n > MaxLeaseTTL {
		return httpjson.Invalid(`field "lease_ttl_seconds" must be between 1 and %d`, MaxLeaseTTL)
	}
	return nil
}

// sessionsLimit reads a sessions listing's ?limit= (1..maxSessionsListed,
// default all of them up to maxSessionsListed).
func sessionsLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return maxSessionsListed, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxSessionsListed {
		return 0, httpjson.Invalid("limit must be between 1 and %d", maxSessionsListed)
	}
	return n, nil
}

// license is a license as the API shows it.
type license struct {
	ID              string  `json:"id"`
	TenantID        string  `json:"tenant_id"`
	Product         string  `json:"product"`
	Seats           int     `json:"seats"`
	SeatsUsed       int     `json:"seats_used"`
	LeaseTTLSeconds int     `json:"lease_ttl_seconds"`
	Status          string  `json:"status"`
	ExpiresAt       *string `json:"expires_at"`
	RequireUser     bool    `json:"require_user"`
	MaxSeatsPerUser *int    `json:"max_seats_per_user"`
	Leasing         string  `json:"leasing"`
	// MaxInstancesPerSeat: null for no limit of the policy.
	MaxInstancesPerSeat *int `json:"max_instances_per_seat"`
	// LingerSeconds and ReviveSeconds: 0 when off.
	LingerSeconds int `json:"linger_seconds"`
	ReviveSeconds int `json:"revive_seconds"`
	// Overage is the overage policy (mode none when off).
	Overage overagePolicy `json:"overage"`
	// Borrow is the borrow policy (null when off; max_concurrent 0: all
	// seats).
	Borrow *seats.BorrowPolicy `json:"borrow"`
	// AutoRenew is the renewal policy (null when off).
	AutoRenew *autoRenew `json:"auto_renew"`
	KeyPrefix string     `json:"key_prefix"`
	CreatedAt string     `json:"created_at"`
	UpdatedAt string     `json:"updated_at"`
	// MaxLeaseTTLSeconds is the platform's ceiling on LeaseTTLSeconds.
	MaxLeaseTTLSeconds int `json:"max_lease_ttl_seconds"`
	// Key is present only in the answer to create.
	Key string `json:"key,omitempty"`
}
