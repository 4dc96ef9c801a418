#!/usr/bin/env bash
# Builds Ory Hydra v2.3.0 from the Go module proxy into ~/.cache/dcr-bridge/hydra/ (once; ~11 minutes the first time).
# Hydra's go.mod replaces gobuffalo/pop with Ory's fork; a `replace` only applies in the main module, so the scratch
# module that builds it carries the same line.
set -euo pipefail
version="${HYDRA_VERSION:-v2.3.0}"
cache="${DCR_CACHE_DIR:-$HOME/.cache/dcr-bridge}/hydra"
binary="$cache/hydra-$version"
if [[ -x "$binary" ]]; then echo "$binary"; exit 0; fi
command -v go >/dev/null || { echo "build-hydra: Go is required to build Hydra" >&2; exit 1; }
mkdir -p "$cache"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
go mod init dcr-bridge-hydra-build >/dev/null 2>&1
go mod edit -replace github.com/gobuffalo/pop/v6=github.com/ory/pop/v6@v6.2.1-0.20241121111754-e5dfc0f3344b
go get -tags sqlite -tool "github.com/ory/hydra/v2@$version" >&2
go build -tags sqlite -o "$binary.partial" github.com/ory/hydra/v2 >&2
mv "$binary.partial" "$binary"
echo "$binary"
