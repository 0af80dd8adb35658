// Package floors holds the test of the repository's import directions:
// entry points → functions → shared → lua and schema, the shared packages
// in floors of their own, and the client SDK apart. It has no code; its
// test reads the module's import graph from `go list`.
package floors
