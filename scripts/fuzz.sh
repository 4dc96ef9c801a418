#!/usr/bin/env bash
# An independent fuzzer: schemathesis (PyPI, in a virtual environment cached outside the clone by
# scripts/schemathesis-venv.sh) generates requests from the bridge's served /openapi.yaml and fails on any 5xx, any
# answer outside its response schema, or any status the description does not document. It runs against the compiled
# bridge (build first) with the local driver, then in front of one vendor emulator (Keycloak), each bounded by a number
# of examples per operation and a time cap. Everything listens on 127.0.0.1 and is stopped by PID.
#
#   scripts/fuzz.sh                      # both targets
#   FUZZ_TARGETS=local scripts/fuzz.sh   # one of them
set -euo pipefail
cd "$(dirname "$0")/.."
schemathesis="$(scripts/schemathesis-venv.sh)"
max_examples="${FUZZ_MAX_EXAMPLES:-25}"
time_cap="${FUZZ_TIME_CAP_SECONDS:-300}"
targets="${FUZZ_TARGETS:-local keycloak}"
[ -f dist/src/main.js ] || npm run build

work="$(mktemp -d "${TMPDIR:-/tmp}/dcr-fuzz.XXXXXX")"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work" || true
}
trap cleanup EXIT

free_port() {
  node -e "const s=require('node:net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

# start_bridge NAME [VAR=value…]: the compiled bridge as npm start runs it; sets $url and $key.
start_bridge() {
  local name="$1"
  shift
  local port
  port="$(free_port)"
  url="http://127.0.0.1:$port"
  key="fuzz-$(openssl rand -hex 12)"
  env "$@" PORT="$port" HOST=127.0.0.1 DCR_PUBLIC_URL="$url" DCR_API_KEYS="$key" LOG_LEVEL=warn \
    DCR_RATE_LIMIT_PER_MINUTE=1000000 DCR_AUTH_FAILURE_LIMIT_PER_MINUTE=100000 \
    node --max-semi-space-size=4 --max-old-space-size=1024 dist/src/main.js >"$work/$name-bridge.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] && return 0
    sleep 0.2
  done
  echo "fuzz: the $name bridge did not become ready" >&2
  cat "$work/$name-bridge.log" >&2
  return 1
}

fuzz() {
  local name="$1"
  echo "fuzz: $name, $max_examples examples per operation, at most ${time_cap}s"
  # From the scratch folder: schemathesis keeps its cache (.schemathesis/) in the working directory.
  (cd "$work" && timeout "$time_cap" "$schemathesis" run "$url/openapi.yaml" \
    --header "X-API-Key: $key" \
    --header "Authorization: Bearer $key" \
    --checks not_a_server_error,status_code_conformance,response_schema_conformance \
    --max-examples "$max_examples" \
    --seed "${FUZZ_SEED:-23}" \
    --workers 1 \
    --no-color)
}

for target in $targets; do
  case "$target" in
    local)
      start_bridge local DCR_DRIVER=local DCR_LOCAL_DATA_DIR="$work/local-data"
      ;;
    keycloak)
      node --import tsx test/emulators/cli.ts keycloak >"$work/emulator.out" 2>&1 &
      pids+=($!)
      for _ in $(seq 1 150); do grep -q '^trust its CA' "$work/emulator.out" && break; sleep 0.2; done
      ca="$(sed -n 's/^trust its CA: export NODE_EXTRA_CA_CERTS=//p' "$work/emulator.out")"
      # The driver variables: the block after "driver variables:", up to any alternative.
      mapfile -t vars < <(sed -n '/^driver variables:/,/^or, /{s/^  export //p}' "$work/emulator.out")
      start_bridge keycloak "${vars[@]}" NODE_EXTRA_CA_CERTS="$ca"
      ;;
    *)
      echo "fuzz: unknown target $target" >&2
      exit 2
      ;;
  esac
  fuzz "$target"
done
