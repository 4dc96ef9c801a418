#!/usr/bin/env bash
# Installs schemathesis (PyPI) into a virtual environment cached outside the clone, once per version, and prints the
# path of its `schemathesis` command. Used by scripts/fuzz.sh (and .ci/run through it).
set -euo pipefail
version="${SCHEMATHESIS_VERSION:-4.32.5}"
venv="${DCR_BRIDGE_VENV:-$HOME/.cache/dcr-bridge/venv}"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version" >&2
fi
echo "$venv/bin/schemathesis"
