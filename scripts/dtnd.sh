#!/usr/bin/env bash
# Builds dtn7-go's dtnd v0.9.1 (the DTN node the apid/dtn tests start) into
# ${SPACENET_DTND_DIR:-~/.cache/spacenet-dtnd}/dtnd when it is missing.
# dtnd is GPL-3.0: it is built as a separate program in a throwaway module
# there, never imported into spacenet. On Go 1.26 it links only with current
# golang.org/x/net and x/sys, so the module requires those versions.
set -euo pipefail
dir=${SPACENET_DTND_DIR:-$HOME/.cache/spacenet-dtnd}
[ -x "$dir/dtnd" ] && exit 0
go=${GO:-go}
mkdir -p "$dir"
cd "$dir"
cat >go.mod <<'MOD'
module spacenet-dtnd

go 1.26.0

require (
	github.com/dtn7/dtn7-go v0.9.1
	golang.org/x/net v0.63.0
	golang.org/x/sys v0.50.0
)
MOD
cat >tools.go <<'SRC'
//go:build tools

package tools

import _ "github.com/dtn7/dtn7-go/cmd/dtnd"
SRC
echo "deps: building dtnd v0.9.1 in $dir"
"$go" mod tidy >/dev/null 2>&1 || "$go" mod download
"$go" build -o dtnd.tmp github.com/dtn7/dtn7-go/cmd/dtnd
mv dtnd.tmp dtnd
