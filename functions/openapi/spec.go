package openapi

import (
	"github.com/coditect-ai/license-server/shared/function"
	"github.com/coditect-ai/license-server/shared/route"
)

// Spec is the function as the entry points deploy it: it needs nothing,
// not even Redis or PostgreSQL.
func Spec() function.Spec {
	return function.Spec{Name: Name, HTTP: func(function.Deps) (route.Function, error) { return New() }}
}
