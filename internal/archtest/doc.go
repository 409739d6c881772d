// Package archtest holds the tests that keep the tree's shape true: the
// layering rules between the planes (apid/, ipc/, ip/, ops/) and the
// package picture in docs/ARCHITECTURE.md, which its test regenerates from
// `go list` (go test ./internal/archtest -update). It has no code for other
// packages to use.
package archtest
