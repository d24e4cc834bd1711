#!/usr/bin/env bash
# Runs PyKMIP's own integration suite (../shared/pykmip-suite, unmodified)
# at KMIP 1.2, 1.4 and 2.0 against a fresh kmipd on its defaults (`kmipd
# init` + `kmipd serve`, nothing configured), one fresh server per version,
# then writes the "PyKMIP integration suite" section of conformance/REPORT.md
# and fails if a test fails that conformance/pykmip-exceptions.txt does not
# explain for that version.
#
# Usage (from the repository root, after `make build`):
#   conformance/pykmip-suite.sh              kmipd, report, gate
#   conformance/pykmip-suite.sh --reference  also re-record PyKMIP's own server
#                                            (conformance/pykmip-suite-reference.json)
# Environment: PYKMIP_SUITE (default ../shared/pykmip-suite),
#   PYKMIP_SUITE_PORT (default 25697), PYKMIP_SUITE_VERSIONS (default "1.2 1.4 2.0").
#   KMIPD_TEST_STORE=etcd runs the suite against two kmipd nodes on a fresh
#   3-member etcd cluster per version, behind a round-robin TCP balancer
#   (conformance/etcd-cluster.sh), and reports to conformance/REPORT-etcd.md.
set -euo pipefail
suite=${PYKMIP_SUITE:-../shared/pykmip-suite}
port=${PYKMIP_SUITE_PORT:-25697}
versions=${PYKMIP_SUITE_VERSIONS:-1.2 1.4 2.0}
py=/usr/bin/python3 # PyKMIP needs ssl.wrap_socket (Python <= 3.11)
[ -x "$suite/run.sh" ] || { echo "pykmip-suite: $suite/run.sh not found (set PYKMIP_SUITE)" >&2; exit 1; }
[ -x bin/kmipd ] || { echo "pykmip-suite: bin/kmipd missing: run make build" >&2; exit 1; }

work=$(mktemp -d)
cluster=
report=conformance/REPORT.md
if [ "${KMIPD_TEST_STORE:-bbolt}" = etcd ]; then
  cluster=1
  report=conformance/REPORT-etcd.md
  . conformance/etcd-cluster.sh
  go build -o "$work/tcplb" ./testdata/tcplb
fi
pid=
stop() { # SIGNAL: stop the server we started (kmipd: TERM; pykmip-server: INT)
  [ -n "$pid" ] || return 0
  kill "-$1" "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
}
cleanup() {
  stop TERM
  if [ -n "$cluster" ]; then nodes_stop; etcd_cluster_stop; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wait_port LOG: until something accepts TLS on the port, or the server died.
wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "pykmip-suite: server did not come up on port $port:" >&2
  tail -20 "$1" >&2
  exit 1
}

# suite NAME VERSION PKI: one run of the suite; per-test results in $work/NAME-VERSION.json.
suite() {
  local name=$1 v=$2 pki=$3
  echo "== PyKMIP suite, KMIP $v, against $name"
  PYKMIP_SUITE_TRACE_JSON="$work/$name-$v.json" "$suite/run.sh" 127.0.0.1 "$port" \
    "$pki/ca.crt" "$pki/client.crt" "$pki/client.key" "$v" >"$work/$name-$v.log" 2>&1 || true
  tail -1 "$work/$name-$v.log"
  [ -s "$work/$name-$v.json" ] || { echo "pykmip-suite: no results from $name at $v" >&2; tail -30 "$work/$name-$v.log" >&2; exit 1; }
}

for v in $versions; do
  rm -rf "$work/kmipd"
  bin/kmipd init --dir "$work/kmipd" --listen "127.0.0.1:$port" >/dev/null
  if [ -n "$cluster" ]; then
    # Nodes a and b on a fresh etcd cluster; the suite connects through
    # the balancer on $port, so its connections alternate between them.
    rm -rf "$work/etcd"
    etcd_cluster_start "$work" "${PYKMIP_SUITE_ETCD_PORT:-24100}"
    nodes_start "$work/kmipd" "$work/kmipd-$v.server.log" "$((port + 1))" "$((port + 2))"
    setsid "$work/tcplb" "127.0.0.1:$port" "127.0.0.1:$((port + 1))" "127.0.0.1:$((port + 2))" >"$work/tcplb-$v.log" 2>&1 &
    pid=$!
    wait_port "$work/tcplb-$v.log"
    suite kmipd "$v" "$work/kmipd/pki"
    stop TERM
    nodes_stop
    etcd_cluster_stop
    continue
  fi
  setsid bin/kmipd serve --dir "$work/kmipd" >"$work/kmipd-$v.server.log" 2>&1 &
  pid=$!
  wait_port "$work/kmipd-$v.server.log"
  suite kmipd "$v" "$work/kmipd/pki"
  stop TERM
done

ref=conformance/pykmip-suite-reference.json
if [ "${1:-}" = --reference ]; then
  command -v pykmip-server >/dev/null || { echo "pykmip-suite: pykmip-server not found (apt-get install python3-pykmip)" >&2; exit 1; }
  bin/kmipd init --dir "$work/ref" >/dev/null # only for its dev PKI
  for v in $versions; do
    rm -rf "$work/pykmip"
    mkdir -p "$work/pykmip/policies"
    cat >"$work/pykmip/server.conf" <<CONF
[server]
hostname=127.0.0.1
port=$port
certificate_path=$work/ref/pki/server.crt
key_path=$work/ref/pki/server.key
ca_path=$work/ref/pki/ca.crt
auth_suite=TLS1.2
enable_tls_client_auth=True
policy_path=$work/pykmip/policies
database_path=$work/pykmip/pykmip.db
logging_level=WARNING
CONF
    setsid "$py" /usr/bin/pykmip-server -f "$work/pykmip/server.conf" -l "$work/pykmip/server.log" >"$work/pykmip-$v.server.log" 2>&1 &
    pid=$!
    wait_port "$work/pykmip-$v.server.log"
    suite pykmip-server "$v" "$work/ref/pki"
    stop INT
  done
  "$py" conformance/pykmip_report.py merge "$ref" $(for v in $versions; do echo "$v=$work/pykmip-server-$v.json"; done)
fi

"$py" conformance/pykmip_report.py report --exceptions conformance/pykmip-exceptions.txt \
  --reference "$ref" --report "$report" \
  $(for v in $versions; do echo "$v=$work/kmipd-$v.json"; done)
