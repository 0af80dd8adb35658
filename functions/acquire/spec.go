package acquire

import (
	"encoding/json"
	"github.com/coditect-ai/license-server/shared/database"

	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/route"
	"github.com/coditect-ai/license-server/shared/seats"
)

// Spec is the function as the entry points deploy it: it signs leases, and
// an acquire's caller is named by the license key in its body.
func Spec() function.Spec {
	return function.Spec{
		Name:        Name,
		Needs:       function.Needs{Redis: true, Database: database.RoleSeats, Signer: true},
		Idempotency: function.Idempotency{Caller: licenseKeyCaller},
		HTTP: func(d function.Deps) (route.Function, error) {
			// Checked inside the acquire script: no extra Redis call.
			perLicense := seats.RateLimit{PerSecond: max(d.Limits.PerLicense, 0), Burst: max(d.Limits.PerLicenseBurst, 1)}
			b := d.Backend
			return New(b.Seats, d.Signer, d.Authn, b.Sightings, perLicense, b.Metrics)
		},
	}
}

// licenseKeyCaller names an acquire's caller by its license key, the
// credential its body carries: two SDKs without an Authorization header
// that pick the same Idempotency-Key must never meet.
func licenseKeyCaller(body []byte) string {
	var v struct {
		LicenseKey string `json:"license_key"`
	}
	if json.Unmarshal(body, &v) != nil {
		return "" // the handler refuses the body; the answer is the same for anyone
	}
	return v.LicenseKey
}
