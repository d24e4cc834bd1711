#!/usr/bin/env bash
# Measures kmipd on etcd next to kmipd on bbolt, in one run on this machine,
# loopback only: Get and durable Create (kmipctl bench) on one node with its
# bbolt file, one node on a 3-member etcd cluster, and two nodes on that
# cluster (connections spread over both); Create on etcd with and without
# group commit. Prints a Markdown table.
#
# Usage (from anywhere): bash testdata/bench/cluster.sh
#   BENCH_SECONDS=10  seconds per bench, 1-10
#   BENCH_CONNS=16    connections per bench
#   BENCH_PORT=25810  first of the loopback ports used (3 kmipd ports)
#   ETCD_PORT=24200   base of the etcd members' ports (see conformance/etcd-cluster.sh)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export PATH="/usr/local/go/bin:$PATH"
secs=${BENCH_SECONDS:-10}
conns=${BENCH_CONNS:-16}
port=${BENCH_PORT:-25810}
case $secs in [1-9] | 10) ;; *) echo "bench: BENCH_SECONDS=$secs: want 1 to 10" >&2; exit 2 ;; esac

. conformance/etcd-cluster.sh
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  nodes_stop
  etcd_cluster_stop
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

make -s build
bin/kmipd init --dir "$work/kmipd" --listen "127.0.0.1:$port" >/dev/null
pki="$work/kmipd/pki"
bench() { # NAME SERVERS MIX
  bin/kmipctl --server "$2" --ca "$pki/ca.crt" --cert "$pki/client.crt" --key "$pki/client.key" \
    bench --mix "$3" --conns "$conns" --duration "${secs}s" --json "$work/$1-$3.json" >/dev/null
}
serve_one() { # LOG [VAR=VALUE...]
  local log=$1; shift
  env "$@" bin/kmipd serve --dir "$work/kmipd" --addr "127.0.0.1:$port" >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q 'serving KMIP' "$log" && return; sleep 0.1; done
  cat "$log" >&2; exit 1
}
stop_one() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

serve_one "$work/bbolt.log"
bench bbolt "127.0.0.1:$port" get
bench bbolt "127.0.0.1:$port" create-only
stop_one

etcd_cluster_start "$work" "${ETCD_PORT:-24200}"
serve_one "$work/etcd1.log" KMIPD_STORE="$etcd_store" KMIPD_NODE=a
bench etcd1 "127.0.0.1:$port" get
bench etcd1 "127.0.0.1:$port" create-only
stop_one
serve_one "$work/etcd1-nogc.log" KMIPD_STORE="$etcd_store" KMIPD_NODE=a KMIPD_GROUP_COMMIT=false
bench etcd1-nogc "127.0.0.1:$port" create-only
stop_one
nodes_start "$work/kmipd" "$work/etcd2.log" "$((port + 1))" "$((port + 2))"
bench etcd2 "127.0.0.1:$((port + 1)),127.0.0.1:$((port + 2))" get
bench etcd2 "127.0.0.1:$((port + 1)),127.0.0.1:$((port + 2))" create-only
nodes_stop

/usr/bin/python3 - "$work" "$conns" "$secs" <<'PY'
import json, sys
work, conns, secs = sys.argv[1], sys.argv[2], sys.argv[3]
def rep(name, mix, op):
    r = json.load(open(f"{work}/{name}-{mix}.json"))
    o = r["operations"][op]
    return r, o
rows = [
    ("one node, bbolt", "bbolt"),
    ("one node, 3-member etcd", "etcd1"),
    ("two nodes, 3-member etcd", "etcd2"),
]
print(f"{conns} connections, {secs} s per cell, loopback, one run.\n")
print("| deployment | Get ops/s | Get p50 / p99 ms | Create ops/s | Create p50 / p99 ms | errors |")
print("|---|---|---|---|---|---|")
base = {}
for label, name in rows:
    g, go = rep(name, "get", "Get")
    c, co = rep(name, "create-only", "Create")
    base.setdefault("get", g["ops_per_sec"]); base.setdefault("create", c["ops_per_sec"])
    print(f"| {label} | {g['ops_per_sec']:,.0f} ({g['ops_per_sec']/base['get']:.2f}x) | {go['p50_ms']:.2f} / {go['p99_ms']:.2f} "
          f"| {c['ops_per_sec']:,.0f} ({c['ops_per_sec']/base['create']:.2f}x) | {co['p50_ms']:.2f} / {co['p99_ms']:.2f} | {g['errors'] + c['errors']} |")
n, no = rep("etcd1-nogc", "create-only", "Create")
c, co = rep("etcd1", "create-only", "Create")
print()
print("| one node on etcd | Create ops/s | p50 / p99 ms |")
print("|---|---|---|")
print(f"| group commit on (default) | {c['ops_per_sec']:,.0f} | {co['p50_ms']:.2f} / {co['p99_ms']:.2f} |")
print(f"| group commit off | {n['ops_per_sec']:,.0f} | {no['p50_ms']:.2f} / {no['p99_ms']:.2f} |")
print(f"\ngroup commit gains {c['ops_per_sec']/max(n['ops_per_sec'],1):.2f}x on etcd")
PY
