package heartbeat

import (
	"encoding/json"

	"github.com/coditect-ai/license-server/shared/database"
	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/lease"
	"github.com/coditect-ai/license-server/shared/route"
)

// Spec is the function as the entry points deploy it. A heartbeat takes no
// Idempotency-Key: it names its session, so running one twice changes
// nothing more than running it once. A borrow and a return do: a client
// that lost the answer must get the same one again (the lease of that
// borrow; "returned" rather than a 403 for a proof already used). Root:
// borrow leases are signed by the root itself.
func Spec() function.Spec {
	return function.Spec{Name: Name, Needs: function.Needs{Redis: true, Database: database.RoleSeats, Signer: true, Root: true},
		Idempotency: function.Idempotency{Skip: true, Keyed: []string{BorrowPath, ReturnPath}, Caller: sessionCaller},
		HTTP: func(d function.Deps) (route.Function, error) {
			return New(d.Backend.Seats, d.Signer, &lease.BorrowSigner{Root: d.Root, Issuer: d.Issuer})
		}}
}

// sessionCaller names a borrow's or return's caller by its session id, the
// credential its body carries: two clients without an Authorization header
// that pick the same Idempotency-Key must never meet.
func sessionCaller(body []byte) string {
	var v struct {
		SessionID string `json:"session_id"`
	}
	if json.Unmarshal(body, &v) != nil {
		return "" // the handler refuses the body; the answer is the same for anyone
	}
	return v.SessionID
}
