// Package openapi is the OpenAPI function: it serves the OpenAPI 3.1
// document describing every endpoint of the API at /v1/openapi.json, to
// anyone. The document is spec.json, embedded; its tests hold it to the
// routes the functions serve and to the answers they give.
package openapi

import (
	_ "embed"
	"net/http"
	"strconv"

	"github.com/coditect-ai/license-server/shared/route"
)

// Name is the function's name for FUNCTION_TARGET.
const Name = "OpenAPI"

// Path is where the document is served.
const Path = "/v1/openapi.json"

//go:embed spec.json
var spec []byte

// Document returns the OpenAPI document (JSON). The caller must not modify it.
func Document() []byte { return spec }

// New returns the function.
func New() (route.Function, error) {
	return route.Function{Name: Name, Routes: []route.Route{
		{Pattern: Path, Methods: route.Methods{http.MethodGet: serve}},
	}}, nil
}

// serve writes the document as it is embedded, so every instance answers
// the same bytes; it changes only with a deploy, so caches may keep it a
// while.
func serve(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(spec)))
	w.Write(spec) //nolint:errcheck // the client went away; nothing to do
}
