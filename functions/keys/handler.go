// Package keys is the Keys function: GET /v1/keys publishes the root public
// keys (every version clients should trust, so the root can rotate): all a
// client needs to verify leases, each of which carries its own delegation.
// It never signs, so its deployment can read the key's public half and
// nothing more.
package keys

import (
	"errors"
	"net/http"

	"github.com/coditect-ai/license-server/shared/httpjson"
	"github.com/coditect-ai/license-server/shared/lease"
	"github.com/coditect-ai/license-server/shared/rootkey"
	"github.com/coditect-ai/license-server/shared/route"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "Keys"

// New returns the function. roots are the root public keys, read once at
// start (a key version's public key never changes).
func New(roots []rootkey.PublicKey) (route.Function, error) {
	if len(roots) == 0 {
		return route.Function{}, errors.New("keys: missing dependency")
	}
	jwks := make([]map[string]string, len(roots))
	for i, r := range roots {
		jwks[i] = rootkey.JWK(r.Key)
	}
	doc := lease.Keys{Keys: jwks}
	get := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		httpjson.Write(w, http.StatusOK, doc)
	}
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: "/v1/keys", Methods: route.Methods{http.MethodGet: get}},
	}}, nil
}
