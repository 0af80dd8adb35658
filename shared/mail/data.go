package mail

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// The data each kind of message expects (Renderer.Render). Every field is
// shown as text: the HTML part escapes it, so a tenant's or a user's name
// can hold anything. The URL fields must be absolute http(s) URLs or "".
// A struct or a pointer to one is accepted; a nil pointer, another type or
// a missing required field is an error.

// License names a license in a message. Never its key: KeyPrefix is the
// public display prefix (lk_<id>_abcd), the part the console shows.
type License struct {
	ID        string // required
	Product   string
	KeyPrefix string
}

// Label is how the messages name the license: its product and its key
// prefix (or id).
func (l License) Label() string {
	ref := l.KeyPrefix
	if ref == "" {
		ref = l.ID
	}
	if l.Product == "" {
		return ref
	}
	return l.Product + " (" + ref + ")"
}

func (l License) check() error {
	if l.ID == "" {
		return errors.New("License.ID is empty")
	}
	return nil
}

// ExpiringData is for "license.expiring": a license expires in DaysLeft
// days (0: today).
type ExpiringData struct {
	Tenant      string    // required: the tenant's name
	License     License   // required
	ExpiresAt   time.Time // required
	DaysLeft    int
	ConsoleURL  string // the license's page in the console
	Unsubscribe string // one-click unsubscribe URL, "" for none
}

// ExpiredData is for "license.expired".
type ExpiredData struct {
	Tenant      string    // required
	License     License   // required
	ExpiredAt   time.Time // required
	ConsoleURL  string
	Unsubscribe string
}

// SeatsData is for "seats.exhausted" (every seat in use, the next checkout
// is denied) and "seats.utilization_high" (most seats in use).
type SeatsData struct {
	Tenant      string    // required
	License     License   // required
	Seats       int       // required, > 0: the license's seats
	InUse       int       // seats in use at At
	At          time.Time // required: when it was seen
	ConsoleURL  string
	Unsubscribe string
}

// Percent is InUse as a percentage of Seats, rounded down.
func (d SeatsData) Percent() int {
	if d.Seats <= 0 {
		return 0
	}
	return d.InUse * 100 / d.Seats
}

// WeeklySummaryData is for "usage.weekly_summary": a tenant's week.
type WeeklySummaryData struct {
	Tenant      string    // required
	WeekStart   time.Time // required: the first instant of the week
	WeekEnd     time.Time // required, after WeekStart: the first instant after it
	Licenses    []LicenseUsage
	TopUsers    []UserUsage // the heaviest users, heaviest first
	ConsoleURL  string
	Unsubscribe string
}

// LastDay is the week's last day (WeekEnd is exclusive).
func (d WeeklySummaryData) LastDay() time.Time { return d.WeekEnd.Add(-time.Nanosecond) }

// LicenseUsage is one license's week.
type LicenseUsage struct {
	License   License // required
	PeakSeats int     // the most seats in use at once
	Seats     int     // the license's seats
	SeatHours float64 // seats held, summed over the week, in hours
	Denials   int     // checkouts refused for want of a seat
}

// UserUsage is one user's week.
type UserUsage struct {
	User      string // required: the user's name as the license records it
	SeatHours float64
}

// InvitationData is for "member.invited", sent to the invited person. It
// is essential: no unsubscribe link.
type InvitationData struct {
	Tenant    string    // required: the tenant joined
	Role      string    // required: the role given
	InvitedBy string    // the inviting member's name; "" leaves it out
	AcceptURL string    // required: the invitation link
	ExpiresAt time.Time // required: when the invitation lapses
}

// WebhookDisabledData is for "webhook.disabled", sent to the tenant's
// admins when deliveries to an endpoint kept failing and it was turned
// off. Essential: no unsubscribe link.
type WebhookDisabledData struct {
	Tenant       string    // required
	WebhookURL   string    // required: the endpoint
	FailingSince time.Time // required
	LastError    string    // the last delivery's failure, shortened in the message
	ConsoleURL   string
}

// Endpoint is WebhookURL without its query, fragment and user
// information: endpoints often carry a secret there (a token in the
// query), and an e-mail is no place for it.
func (d WebhookDisabledData) Endpoint() string {
	u, err := url.Parse(d.WebhookURL)
	if err != nil || u.Host == "" {
		return "(an unreadable URL)"
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// EventData is for "event": any other event type an admin opted into,
// shown as its type and a few lines of key and value.
type EventData struct {
	Tenant      string    // required
	Type        string    // required: the event type, e.g. "license.suspended"
	At          time.Time // when it happened; zero leaves it out
	Fields      []Field
	ConsoleURL  string
	Unsubscribe string
}

// Field is one line of an event.
type Field struct {
	Key, Value string
}

// The unsubscribe link each kind shows; the layouts ask for it through
// the template function "unsubscribe".
type unsubscriber interface{ unsubscribeURL() string }

func (d ExpiringData) unsubscribeURL() string      { return d.Unsubscribe }
func (d ExpiredData) unsubscribeURL() string       { return d.Unsubscribe }
func (d SeatsData) unsubscribeURL() string         { return d.Unsubscribe }
func (d WeeklySummaryData) unsubscribeURL() string { return d.Unsubscribe }
func (d EventData) unsubscribeURL() string         { return d.Unsubscribe }

// The checks of required fields, one per type. Errors start with the
// field's name, as the caller wrote it in Go.

func (d ExpiringData) check() error {
	var days error
	if d.DaysLeft < 0 {
		days = fmt.Errorf("%s is %d; an expired license is license.expired", "DaysLeft", d.DaysLeft)
	}
	return firstError(need("Tenant", d.Tenant), d.License.check(), needTime("ExpiresAt", d.ExpiresAt), days,
		link("ConsoleURL", d.ConsoleURL), link("Unsubscribe", d.Unsubscribe))
}

func (d ExpiredData) check() error {
	return firstError(need("Tenant", d.Tenant), d.License.check(), needTime("ExpiredAt", d.ExpiredAt),
		link("ConsoleURL", d.ConsoleURL), link("Unsubscribe", d.Unsubscribe))
}

func (d SeatsData) check() error {
	var seats error
	if d.Seats <= 0 {
		seats = fmt.Errorf("%s is %d", "Seats", d.Seats)
	}
	return firstError(need("Tenant", d.Tenant), d.License.check(), seats, needTime("At", d.At),
		link("ConsoleURL", d.ConsoleURL), link("Unsubscribe", d.Unsubscribe))
}

func (d WeeklySummaryData) check() error {
	errs := []error{need("Tenant", d.Tenant), needTime("WeekStart", d.WeekStart), needTime("WeekEnd", d.WeekEnd),
		link("ConsoleURL", d.ConsoleURL), link("Unsubscribe", d.Unsubscribe)}
	if !d.WeekEnd.After(d.WeekStart) {
		errs = append(errs, errors.New("WeekEnd is not after WeekStart"))
	}
	for i, l := range d.Licenses {
		if err := l.License.check(); err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", "Licenses", i, err))
		}
	}
	for i, u := range d.TopUsers {
		if u.User == "" {
			errs = append(errs, fmt.Errorf("TopUsers[%d].User is empty", i))
		}
	}
	return firstError(errs...)
}

func (d InvitationData) check() error {
	var accept error
	if d.AcceptURL == "" {
		accept = errors.New("AcceptURL is empty")
	}
	return firstError(need("Tenant", d.Tenant), need("Role", d.Role), accept, link("AcceptURL", d.AcceptURL),
		needTime("ExpiresAt", d.ExpiresAt))
}

func (d WebhookDisabledData) check() error {
	var endpoint error
	if u, err := url.Parse(d.WebhookURL); d.WebhookURL == "" || err != nil || u.Host == "" {
		endpoint = errors.New("WebhookURL is empty or not an absolute URL")
	}
	return firstError(need("Tenant", d.Tenant), endpoint, needTime("FailingSince", d.FailingSince),
		link("ConsoleURL", d.ConsoleURL))
}

func (d EventData) check() error {
	errs := []error{need("Tenant", d.Tenant), need("Type", d.Type),
		link("ConsoleURL", d.ConsoleURL), link("Unsubscribe", d.Unsubscribe)}
	for i, f := range d.Fields {
		if f.Key == "" {
			errs = append(errs, fmt.Errorf("Fields[%d].Key is empty", i))
		}
	}
	return firstError(errs...)
}

func need(name, v string) error {
	if v == "" {
		return fmt.Errorf("%s is empty", name)
	}
	return nil
}

func needTime(name string, t time.Time) error {
	if t.IsZero() {
		return fmt.Errorf("%s is not set", name)
	}
	return nil
}

// link accepts "" or an absolute http(s) URL: the text part cannot
// sanitise a link as html/template does the HTML part's, so a javascript:
// or data: URL is refused here.
func link(name, v string) error {
	if v == "" {
		return nil
	}
	if err := checkLink(v); err != nil {
		return fmt.Errorf("%s: %v", name, err)
	}
	return nil
}

func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
