package ipc

import "flag"

// update is accepted so that `go test ./... -update` (which rewrites the
// golden files of ipc/idol/gen) does not fail here; this package has none.
var _ = flag.Bool("update", false, "accepted for go test ./... -update; nothing to rewrite in this package")
