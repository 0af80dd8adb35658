// Package links names what the signed links in mails carry: an
// unsubscribe link (followed without signing in) and an invitation link.
// The Signer that makes and checks them is in signer.go.
package links

// Purposes: a token made for one never passes as the other.
const (
	PurposeUnsubscribe = "unsubscribe"
	PurposeInvitation  = "invitation"
)

// Unsubscribe is an unsubscribe link's payload: who stops getting mail of
// which tenant about which event type ("*": all but the essential ones).
type Unsubscribe struct {
	TenantID  string `json:"t"`
	Email     string `json:"e"`
	EventType string `json:"k"`
}

// Invitation is an invitation link's payload: the membership it invites
// to, and when the link expires (unix seconds; the signer enforces it, the
// console shows it).
type Invitation struct {
	TenantID string `json:"t"`
	MemberID string `json:"m"`
	Expires  int64  `json:"x"`
}
