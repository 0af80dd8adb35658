package console

import (
	"embed"
	"io/fs"
)

// dist is the built console (web/, `make console`). In a fresh clone it
// holds only .gitkeep: "all:" embeds that, so the Go packages build, vet
// and test before any npm step, and the function then says the console
// is not built instead of serving a blank page.
//
//go:embed all:dist
var dist embed.FS

// Built returns the built console's files (the root holds index.html).
func Built() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		// fs.Sub fails only on an invalid name, and "dist" is valid.
		panic(err)
	}
	return sub
}
