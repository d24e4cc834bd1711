#!/usr/bin/env bash
# Reproduces BENCHMARKS.md: kmipd vs PyKMIP's own server vs the TLS echo
# ceiling, plus the bbolt durable-write baseline, all in one run on this
# machine, loopback only.
#
# Usage (from anywhere): bash testdata/bench/run.sh
#
#   BENCH_SECONDS=10        seconds per bench, 1-10
#   BENCH_CONNS=16          connections per bench
#   BENCH_KMIPD_PORT=25710  loopback port of kmipd
#   BENCH_PYKMIP_PORT=25711 loopback port of pykmip-server
#   BENCH_NO_BUILD=1        use bin/kmipd and bin/kmipctl as they are
#   BENCH_JSON_DIR=DIR      keep every bench's JSON report in DIR
#
# It builds kmipd and kmipctl, writes a fresh kmipd set-up (kmipd init) and a
# PyKMIP server config using the same dev PKI in a temporary directory,
# starts both servers, runs `kmipctl bench` against each (and the tls-echo
# ceiling), stops both servers, runs the store's BenchmarkDurableWrites and
# prints a Markdown table. Everything it started is stopped on exit, also on
# failure or Ctrl-C, and the temporary directory is removed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export PATH="/usr/local/go/bin:$PATH"

secs=${BENCH_SECONDS:-10}
conns=${BENCH_CONNS:-16}
kport=${BENCH_KMIPD_PORT:-25710}
pport=${BENCH_PYKMIP_PORT:-25711}
py=/usr/bin/python3 # the Debian interpreter: pykmip-server and the table
case $secs in [1-9] | 10) ;; *)
  echo "bench: BENCH_SECONDS=$secs: want 1 to 10" >&2
  exit 2
  ;;
esac
command -v pykmip-server >/dev/null || {
  echo "bench: pykmip-server not found (apt-get install python3-pykmip)" >&2
  exit 1
}

work=$(mktemp -d)
kmipd_pid=
pykmip_pid=

# stop PID SIGNAL SECONDS: signal one process we started, wait for it, and
# SIGKILL its process group (pykmip-server's helper processes) if it hangs.
stop() {
  local pid=$1 sig=$2 secs=$3
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq $((secs * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "bench: pid $pid did not stop on SIG$sig; killing its process group" >&2
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  # Helpers left in its process group (setsid made the group ours alone).
  if kill -0 -- "-$pid" 2>/dev/null; then
    sleep 1
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
}
stop_servers() {
  # kmipd finishes requests in flight on SIGTERM; pykmip-server stops on
  # SIGINT (on SIGTERM it waits for its next connection).
  stop "$kmipd_pid" TERM 35
  kmipd_pid=
  stop "$pykmip_pid" INT 30
  pykmip_pid=
}
cleanup() {
  stop_servers
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${BENCH_NO_BUILD:-}" ]; then
  make -s build >&2
fi

# kmipd: a default set-up, as `make run` writes it (software key backend,
# bbolt store with group commit, audit trail on with sync "interval").
bin/kmipd init --dir "$work/kmipd" --listen "127.0.0.1:$kport" >/dev/null
pki="$work/kmipd/pki"
setsid env KMIPD_LOG_LEVEL=warn bin/kmipd serve --dir "$work/kmipd" >"$work/kmipd.log" 2>&1 &
kmipd_pid=$!

# pykmip-server: same server certificate and CA, TLS 1.2 suite, client
# certificates required, SQLite database and policy directory of its own.
mkdir -p "$work/pykmip/policies"
cat >"$work/pykmip/server.conf" <<EOF
[server]
hostname=127.0.0.1
port=$pport
certificate_path=$pki/server.crt
key_path=$pki/server.key
ca_path=$pki/ca.crt
auth_suite=TLS1.2
enable_tls_client_auth=True
policy_path=$work/pykmip/policies
database_path=$work/pykmip/pykmip.db
logging_level=WARNING
EOF
setsid "$py" /usr/bin/pykmip-server -f "$work/pykmip/server.conf" -l "$work/pykmip/server.log" \
  >"$work/pykmip.out" 2>&1 &
pykmip_pid=$!

ctl() { # SERVER ARGS...
  local server=$1
  shift
  bin/kmipctl --server "$server" --ca "$pki/ca.crt" --cert "$pki/client.crt" --key "$pki/client.key" "$@"
}
wait_ready() { # NAME PID SERVER LOG
  for _ in $(seq 100); do
    ctl "$3" --timeout 2s ping >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.2
  done
  echo "bench: $1 did not come up on $3:" >&2
  tail -20 "$4" >&2
  exit 1
}
wait_ready kmipd "$kmipd_pid" "127.0.0.1:$kport" "$work/kmipd.log"
wait_ready pykmip-server "$pykmip_pid" "127.0.0.1:$pport" "$work/pykmip.out"

json=$work/json
mkdir -p "$json"
bench() { # NAME SERVER MIX: one bench, its JSON report in $json/NAME-MIX.json
  local name=$1 server=$2 mix=$3
  echo "bench: $name $mix (${secs}s, $conns connections)" >&2
  if ! ctl "$server" bench --conns "$conns" --duration "${secs}s" --mix "$mix" \
    --json "$json/$name-$mix.json" >"$json/$name-$mix.txt" 2>&1; then
    echo "bench: $name $mix failed:" >&2
    cat "$json/$name-$mix.txt" >&2
    exit 1
  fi
}
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# The ceiling just before and just after kmipd's Get (the machine may be
# shared: bracketing evens out load that comes and goes), then the two
# servers on the same workload back to back.
bench echo "127.0.0.1:$kport" tls-echo
bench kmipd "127.0.0.1:$kport" get
bench echo2 "127.0.0.1:$kport" tls-echo
bench pykmip "127.0.0.1:$pport" get
bench kmipd "127.0.0.1:$kport" locate
bench pykmip "127.0.0.1:$pport" locate
bench kmipd "127.0.0.1:$kport" encrypt
bench kmipd "127.0.0.1:$kport" create
bench pykmip "127.0.0.1:$pport" create
# Durable Creates alone, with group commit (the default) and then with one
# fsync'd bbolt transaction per Create (group_commit off), same set-up.
bench kmipd "127.0.0.1:$kport" create-only
stop "$kmipd_pid" TERM 35
setsid env KMIPD_LOG_LEVEL=warn KMIPD_GROUP_COMMIT=false bin/kmipd serve --dir "$work/kmipd" >"$work/kmipd-nogc.log" 2>&1 &
kmipd_pid=$!
wait_ready kmipd-nogc "$kmipd_pid" "127.0.0.1:$kport" "$work/kmipd-nogc.log"
bench kmipd-nogc "127.0.0.1:$kport" create-only
stop_servers
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# The durable-write baseline: one fsync'd bbolt transaction per write
# (Update) vs group commit (UpdateGrouped, what kmipd's Create uses), 16
# writers, on the same disk ($TMPDIR, like the servers' files above).
echo "bench: store BenchmarkDurableWrites" >&2
TMPDIR=$work go test -count=1 -run '^$' -bench BenchmarkDurableWrites -benchtime 3s ./store/ >"$json/store.txt" 2>&1 || {
  cat "$json/store.txt" >&2
  exit 1
}

if [ -n "${BENCH_JSON_DIR:-}" ]; then
  mkdir -p "$BENCH_JSON_DIR"
  cp "$json"/* "$BENCH_JSON_DIR"/
fi

"$py" - "$json" "$secs" "$conns" "$load_start" "$load_end" <<'PY'
import json, os, platform, re, subprocess, sys

d, secs, conns, load_start, load_end = sys.argv[1:6]

def rep(name, mix):
    with open(os.path.join(d, f"{name}-{mix}.json")) as f:
        return json.load(f)

def cpu():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"

def out(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"

nproc = out("nproc")
debian = open("/etc/debian_version").read().strip() if os.path.exists("/etc/debian_version") else "?"
print(f"Machine: nproc {nproc}, {cpu()}, Linux {platform.release()}, Debian {debian}, {out('go', 'version')}")
print(f"kmipd {out('git', 'describe', '--always', '--dirty')}; pykmip-server {out('dpkg-query', '-W', '-f', '${Version}', 'python3-pykmip')}")
print(f"Load average (1/5/15 min) at the start of the benches: {load_start}; at the end: {load_end}")
print(f"Each bench: kmipctl bench --conns {conns} --duration {secs}s, KMIP 2.0, loopback, client and server on the same CPUs.")
print()
print("| server | mix | operation | ops/s | p50 ms | p99 ms | errors |")
print("|---|---|---|---:|---:|---:|---:|")
rows = [("TLS echo ceiling (before)", "echo", "tls-echo"),
        ("kmipd", "kmipd", "get"),
        ("TLS echo ceiling (after)", "echo2", "tls-echo"),
        ("pykmip-server", "pykmip", "get"),
        ("kmipd", "kmipd", "locate"), ("pykmip-server", "pykmip", "locate"),
        ("kmipd", "kmipd", "encrypt"),
        ("kmipd", "kmipd", "create"), ("pykmip-server", "pykmip", "create"),
        ("kmipd, group commit", "kmipd", "create-only"),
        ("kmipd, one fsync'd transaction per Create", "kmipd-nogc", "create-only")]
for label, name, mix in rows:
    r = rep(name, mix)
    for op in sorted(r["operations"], key=lambda o: (o != "Create", o)):
        s = r["operations"][op]
        print(f"| {label} | {mix} | {op} | {s['ops_per_sec']:,.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {s['errors']} |")
    if len(r["operations"]) > 1:
        print(f"| {label} | {mix} | (all) | {r['ops_per_sec']:,.0f} | | | {r['errors']} |")

store = {}
with open(os.path.join(d, "store.txt")) as f:
    for line in f:
        m = re.match(r"BenchmarkDurableWrites/(\w+)-\d+\s+\d+\s+([\d.]+) ns/op", line)
        if m:
            store[m.group(1)] = 1e9 / float(m.group(2))
print()
print("| store (16 writers, fsync on) | writes/s |")
print("|---|---:|")
for k, what in (("Update", "Update: one fsync'd bbolt transaction per write"),
                ("UpdateGrouped", "UpdateGrouped: group commit (kmipd's Create)")):
    print(f"| {what} | {store.get(k, float('nan')):,.0f} |")

echo = (rep("echo", "tls-echo")["ops_per_sec"] + rep("echo2", "tls-echo")["ops_per_sec"]) / 2
kget = rep("kmipd", "get")["operations"]["Get"]["ops_per_sec"]
pget = rep("pykmip", "get")["operations"]["Get"]["ops_per_sec"]
kc = rep("kmipd", "create")["operations"]["Create"]["ops_per_sec"]
pc = rep("pykmip", "create")["operations"]["Create"]["ops_per_sec"]
upd, grp = store.get("Update", float("nan")), store.get("UpdateGrouped", float("nan"))
ok = lambda b: "meets" if b else "MISSES"
print()
print("| ratio | value | target |")
print("|---|---:|---|")
print(f"| kmipd Get / TLS echo ceiling (mean of before and after: {echo:,.0f}) | {kget / echo:.2f} | >= 0.5: {ok(kget / echo >= 0.5)} |")
print(f"| kmipd Get / pykmip-server Get | {kget / pget:.0f}x | |")
print(f"| store UpdateGrouped / Update (durable Create path vs one fsync per create) | {grp / upd:.1f}x | >= 3: {ok(grp / upd >= 3)} |")
gc = rep("kmipd", "create-only")["operations"]["Create"]["ops_per_sec"]
nogc = rep("kmipd-nogc", "create-only")["operations"]["Create"]["ops_per_sec"]
print(f"| kmipd durable Create, group commit / one fsync'd transaction per Create (create-only mix) | {gc / nogc:.1f}x | >= 3: {ok(gc / nogc >= 3)} |")
print(f"| kmipd Create in the create mix (Create+Get+Destroy, Destroy scrubs the file) / store Update | {kc / upd:.2f}x | |")
print(f"| kmipd Create / pykmip-server Create (create mix) | {kc / pc:.2f}x | |")
PY
