#!/usr/bin/env bash
# Replays the OASIS KMIP test cases against a fresh `kmipd serve --interop`,
# writes conformance/REPORT.md and fails when a claimed file regresses.
# Usage: conformance/run.sh [--update-claimed]   (run from the repository root)
# With KMIPD_TEST_STORE=etcd the files are replayed against two kmipd nodes
# on a 3-member etcd cluster, in turn (conformance/etcd-cluster.sh), and the
# report goes to conformance/REPORT-etcd.md; the same claimed files must pass.
set -euo pipefail
cases=${KMIP_TESTCASES:-../shared/kmip-testcases}
port=${CONFORMANCE_PORT:-25696}
if [ ! -d "$cases" ]; then
  echo "conformance: $cases not found (set KMIP_TESTCASES)" >&2
  exit 1
fi
work=$(mktemp -d)
server_pid=
cluster=
[ "${KMIPD_TEST_STORE:-bbolt}" = etcd ] && cluster=1
report=conformance/REPORT.md
servers="127.0.0.1:$port"
if [ -n "$cluster" ]; then
  . conformance/etcd-cluster.sh
  report=conformance/REPORT-etcd.md
  servers="127.0.0.1:$port,127.0.0.1:$((port + 1))"
fi
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  if [ -n "$cluster" ]; then nodes_stop; etcd_cluster_stop; fi
  rm -rf "$work"
}
trap cleanup EXIT

bin/kmipd init --dir "$work/kmipd" --listen "127.0.0.1:$port" >/dev/null
# kmipd as the certificate authority of its dev CA, so that Certify,
# Re-certify and Re-Provision are served, and with its server-to-client
# side on, so that every KMIP 2.0 operation is served (and listed, as the
# files expect).
printf 'certify:\n  enabled: true\n' >>"$work/kmipd/kmipd.yaml"
sed -i '/^server_to_client:/,/^[a-z]/s/^\( *enabled:\).*/\1 true/; /^server_to_client:/,/^[a-z]/s/^\( *put:\).*/\1 true/' "$work/kmipd/kmipd.yaml"
pki="$work/kmipd/pki"
start() { # LOG [VAR=VALUE...]: serve $work/kmipd with the given environment until stop
  local log=$1; shift
  if [ -n "$cluster" ]; then nodes_start "$work/kmipd" "$log" "$port" "$((port + 1))" "$@" -- --interop; return; fi
  env KMIPD_LOG_LEVEL=info "$@" bin/kmipd serve --dir "$work/kmipd" --interop >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 50); do
    grep -q 'serving KMIP' "$log" 2>/dev/null && return
    kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.1
  done
}
stop() {
  if [ -n "$cluster" ]; then nodes_stop; return; fi
  kill "$server_pid" && wait "$server_pid" 2>/dev/null; server_pid=
}
run() { # NAME ARGS...: results in $work/NAME.json, the per-file lines in the log only
  local set=$1; shift
  bin/kmipctl conformance run --server "$servers" --ca "$pki/ca.crt" --cert "$pki/client.crt" \
    --key "$pki/client.key" --json "$work/$set.json" "$@" >"$work/$set.log" 2>&1 || true
  [ -s "$work/$set.json" ] || { echo "conformance: set $set produced no results" >&2; tail -20 "$work/$set.log" >&2; exit 1; }
}

[ -n "$cluster" ] && etcd_cluster_start "$work" "${CONFORMANCE_ETCD_PORT:-24000}"
start "$work/server.log"
run 2.1 "$cases/2.1"
run 2.0-override --version-override 2.0 "$cases/2.1/profiles"
run 2.0 "$cases/2.0"
run 1.4 "$cases/1.4"
stop

# CS-RNG-O-1..4 send one request and expect four different RNG Seed
# policies; O-1 is the default's. The others are replayed against the same
# server configured for theirs (rng.seed, rng.seed_max_bytes), and their
# results replace the default run's in the report.
for o in "2 KMIPD_RNG_SEED_MAX_BYTES=16" "3 KMIPD_RNG_SEED=ignore" "4 KMIPD_RNG_SEED=deny"; do
  read -r n setting <<<"$o"
  start "$work/server-rng-o-$n.log" "$setting"
  run "rng-o-$n-2.1" "$cases/2.1/profiles/optional/CS-RNG-O-$n-21.xml"
  run "rng-o-$n-2.0-override" --version-override 2.0 "$cases/2.1/profiles/optional/CS-RNG-O-$n-21.xml"
  run "rng-o-$n-1.4" "$cases/1.4/profiles/optional/CS-RNG-O-$n-14.xml"
  stop
done
with_rng() { echo "$work/$1.json,$work/rng-o-2-$1.json,$work/rng-o-3-$1.json,$work/rng-o-4-$1.json"; }

refs=()
[ -f conformance/pykmip-server.json ] && refs+=(--reference "PyKMIP server (1.4 set)=conformance/pykmip-server.json")
note="CS-RNG-O-1..4 send the same RNG Seed request and expect four server policies (KMIP 2.0 §6.1.45 allows each). \
O-1 is kmipd's default (accept the whole seed); O-2, O-3 and O-4 are replayed against kmipd configured with \
\`rng.seed_max_bytes: 16\`, \`rng.seed: ignore\` and \`rng.seed: deny\` respectively. \
TC-NP-1-14 and TC-NP-2-14 record server-to-client messages (KMIP 1.4 §5), which a client-side runner cannot \
replay: see conformance/README.md for those and the asynchronous and PKCS#11 files."
[ -n "$cluster" ] && note="Replayed against two kmipd nodes (kmipd serve --store etcd://... --node a|b) on a 3-member etcd \
cluster (Debian's etcd 3.4), files sent to the nodes in turn (kmipctl conformance run --server A,B); every Interop \
Reset empties the shared store for both nodes. $note"
bin/kmipctl conformance report --claimed conformance/claimed.txt --out "$report" --note "$note" "${refs[@]}" "$@" \
  2.1="$(with_rng 2.1)" 2.0-override="$(with_rng 2.0-override)" 2.0="$work/2.0.json" 1.4="$(with_rng 1.4)"
