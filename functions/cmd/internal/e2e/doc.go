// Package e2e holds the end-to-end tests of the composed service: every
// function built by the composition root (functions/cmd/internal/compose),
// served over HTTP on real Redis and PostgreSQL, driven as clients and the
// SDK drive it, through faults, hostile input and races.
package e2e
