package cameraipc

import "flag"

// update is accepted so that `go test ./... -update` (which rewrites the
// golden files of ipc/idol/gen) does not fail here; camera_idol.go is rewritten by ipc/idol/gen's golden test.
var _ = flag.Bool("update", false, "accepted for go test ./... -update; nothing to rewrite in this package")
