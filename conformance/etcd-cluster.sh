# Sourced by conformance/run.sh and conformance/pykmip-suite.sh when
# KMIPD_TEST_STORE=etcd: a real 3-member etcd cluster on loopback (flags as
# in etcd's clustering guide) and two kmipd nodes on it sharing one kmipd
# directory, behind a round-robin TCP balancer (testdata/tcplb).
#
# etcd_cluster_start WORK BASE: members i=1..3 listen on BASE+10i (clients)
#   and BASE+10i+1 (peers), data in WORK/etcd/mI; sets etcd_store
#   (etcd://…) and etcd_pids.
# nodes_start DIR LOG PORT_A PORT_B [VAR=VALUE...] -- [SERVE ARGS...]:
#   kmipd nodes a and b serving DIR on etcd_store; sets node_pids.
# nodes_stop: SIGTERM both nodes and wait.
# etcd_cluster_stop: kill the members.
etcd_bin=${ETCD_BIN:-$(command -v etcd || true)}

etcd_cluster_start() {
  local work=$1 base=$2 i peers="" eps=""
  [ -n "$etcd_bin" ] || { echo "etcd not found (apt-get install etcd-server, or set ETCD_BIN)" >&2; exit 1; }
  for i in 1 2 3; do peers+="${peers:+,}m$i=http://127.0.0.1:$((base + 10 * i + 1))"; done
  etcd_pids=()
  for i in 1 2 3; do
    local c=$((base + 10 * i)) p=$((base + 10 * i + 1))
    mkdir -p "$work/etcd"
    "$etcd_bin" --name "m$i" --data-dir "$work/etcd/m$i" \
      --listen-client-urls "http://127.0.0.1:$c" --advertise-client-urls "http://127.0.0.1:$c" \
      --listen-peer-urls "http://127.0.0.1:$p" --initial-advertise-peer-urls "http://127.0.0.1:$p" \
      --initial-cluster "$peers" --initial-cluster-token kmipd-test --initial-cluster-state new \
      --logger zap --log-outputs stderr >"$work/etcd/m$i.log" 2>&1 &
    etcd_pids+=($!)
    eps+="${eps:+,}127.0.0.1:$c"
  done
  etcd_store="etcd://$eps"
  local ctl=${ETCDCTL_BIN:-$(command -v etcdctl || true)}
  for _ in $(seq 100); do
    if [ -n "$ctl" ]; then
      ETCDCTL_API=3 "$ctl" --endpoints "$eps" endpoint health >/dev/null 2>&1 && return 0
    else
      grep -q 'became leader\|elected leader' "$work"/etcd/m*.log 2>/dev/null && sleep 1 && return 0
    fi
    sleep 0.1
  done
  echo "etcd cluster did not become healthy:" >&2
  tail -5 "$work"/etcd/m*.log >&2
  exit 1
}

etcd_cluster_stop() {
  local p
  for p in "${etcd_pids[@]:-}"; do [ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true; done
  for p in "${etcd_pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  etcd_pids=()
}

nodes_start() {
  local dir=$1 log=$2 pa=$3 pb=$4; shift 4
  local envs=() args=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  args=("$@")
  node_pids=()
  local n p
  for n in a b; do
    p=$pa; [ $n = b ] && p=$pb
    env KMIPD_LOG_LEVEL=info "${envs[@]}" bin/kmipd serve --dir "$dir" --store "$etcd_store" --node "$n" \
      --addr "127.0.0.1:$p" "${args[@]}" >"$log.$n" 2>&1 &
    node_pids+=($!)
  done
  for n in 0 1; do
    for _ in $(seq 100); do
      grep -q 'serving KMIP' "$log.$([ $n = 0 ] && echo a || echo b)" 2>/dev/null && break
      kill -0 "${node_pids[$n]}" 2>/dev/null || { cat "$log".? >&2; exit 1; }
      sleep 0.1
    done
  done
}

nodes_stop() {
  local p
  for p in "${node_pids[@]:-}"; do [ -n "$p" ] && kill -TERM "$p" 2>/dev/null || true; done
  for p in "${node_pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
  node_pids=()
}
