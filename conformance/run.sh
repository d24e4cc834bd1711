#!/usr/bin/env bash
# Replays the OASIS KMIP test cases against a fresh `kmipd serve --interop`,
# writes conformance/REPORT.md and fails when a claimed file regresses.
# Usage: conformance/run.sh [--update-claimed]   (run from the repository root)
set -euo pipefail
cases=${KMIP_TESTCASES:-../shared/kmip-testcases}
port=${CONFORMANCE_PORT:-25696}
if [ ! -d "$cases" ]; then
  echo "conformance: $cases not found (set KMIP_TESTCASES)" >&2
  exit 1
fi
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

bin/kmipd init --dir "$work/kmipd" --listen "127.0.0.1:$port" >/dev/null
KMIPD_LOG_LEVEL=info bin/kmipd serve --dir "$work/kmipd" --interop >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do
  grep -q 'serving KMIP' "$work/server.log" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done

pki="$work/kmipd/pki"
run() { # SET ARGS...: one set, results in $work/SET.json, the per-file lines in the log only
  local set=$1; shift
  bin/kmipctl conformance run --server "127.0.0.1:$port" --ca "$pki/ca.crt" --cert "$pki/client.crt" \
    --key "$pki/client.key" --json "$work/$set.json" "$@" >"$work/$set.log" 2>&1 || true
  [ -s "$work/$set.json" ] || { echo "conformance: set $set produced no results" >&2; tail -20 "$work/$set.log" >&2; exit 1; }
}
run 2.1 "$cases/2.1"
run 2.0-override --version-override 2.0 "$cases/2.1/profiles"
run 2.0 "$cases/2.0"
run 1.4 "$cases/1.4"

refs=()
[ -f conformance/pykmip-server.json ] && refs+=(--reference "PyKMIP server (1.4 set)=conformance/pykmip-server.json")
bin/kmipctl conformance report --claimed conformance/claimed.txt --out conformance/REPORT.md "${refs[@]}" "$@" \
  2.1="$work/2.1.json" 2.0-override="$work/2.0-override.json" 2.0="$work/2.0.json" 1.4="$work/1.4.json"
