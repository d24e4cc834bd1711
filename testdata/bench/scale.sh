#!/usr/bin/env bash
# Store scale: kmipd serving a store of N keys, for each N given, in one run.
#
# Usage (from anywhere): bash testdata/bench/scale.sh [N...]   (default: 10000 1000000)
#
#   SCALE_PORT=25720     loopback port of kmipd
#   SCALE_READS=2000     samples of Get and of each Locate
#   SCALE_WRITES=200     samples of Create and of Destroy
#   SCALE_BUDGET=60s     at most this long per operation
#   SCALE_NO_BUILD=1     use bin/kmipd and bin/kmipctl as they are
#   SCALE_DIR=DIR        where the stores go (default: a new directory in $TMPDIR)
#   SCALE_KEEP=1         keep the filled stores (and say where) instead of removing them
#
# For each N: a fresh `kmipd init`, `kmipd dev fill --count N` (kmipd's own
# Create, 1000 per store transaction: 128-bit AES keys named scale-i, with
# the custom attribute x-scale-group shared by 10 keys), then `kmipd serve`
# and testdata/bench/scaleprobe over one connection. It reports the fill
# time, the file size per key, the time from starting `kmipd serve` to its
# first answer, the server's RSS (/proc/PID/status: RssAnon, the heap and
# stacks, and RssFile, mostly the store file's pages bbolt maps) once ready
# and after the probe, and the p50/p99 of each operation; then removes the
# store (1M keys take about 2 GB). Everything it started is stopped on exit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export PATH="/usr/local/go/bin:$PATH"

port=${SCALE_PORT:-25720}
reads=${SCALE_READS:-2000}
writes=${SCALE_WRITES:-200}
budget=${SCALE_BUDGET:-60s}
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 1000000)
for n in "${sizes[@]}"; do
  case $n in '' | *[!0-9]*)
    echo "scale: $n: want a number of keys" >&2
    exit 2
    ;;
  esac
done

work=$(mktemp -d "${SCALE_DIR:-${TMPDIR:-/tmp}}/kmipd-scale.XXXXXX")
kmipd_pid=
stop_kmipd() {
  [ -n "$kmipd_pid" ] || return 0
  kill -TERM "$kmipd_pid" 2>/dev/null || true
  for _ in $(seq 300); do
    kill -0 "$kmipd_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$kmipd_pid" 2>/dev/null || true
  wait "$kmipd_pid" 2>/dev/null || true
  kmipd_pid=
}
cleanup() {
  stop_kmipd
  if [ -n "${SCALE_KEEP:-}" ]; then
    echo "scale: stores kept in $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${SCALE_NO_BUILD:-}" ]; then
  make -s build >&2
fi
go build -o "$work/scaleprobe" ./testdata/bench/scaleprobe

rss_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }

for n in "${sizes[@]}"; do
  dir=$work/n$n
  bin/kmipd init --dir "$dir" --listen "127.0.0.1:$port" >/dev/null
  echo "scale: filling $n keys" >&2
  t0=$(date +%s.%N)
  bin/kmipd dev fill --dir "$dir" --count "$n" >"$work/fill-$n.txt" 2>"$work/fill-$n.err" || {
    cat "$work/fill-$n.err" >&2
    exit 1
  }
  t1=$(date +%s.%N)
  size=$(stat -c %s "$dir/kmipd.db")
  pki=$dir/pki
  ctl() { bin/kmipctl --server "127.0.0.1:$port" --ca "$pki/ca.crt" --cert "$pki/client.crt" --key "$pki/client.key" "$@"; }
  s0=$(date +%s.%N)
  KMIPD_LOG_LEVEL=warn bin/kmipd serve --dir "$dir" >"$work/serve-$n.log" 2>&1 &
  kmipd_pid=$!
  ready=
  for _ in $(seq 1200); do
    if ctl --timeout 2s ping >/dev/null 2>&1; then
      ready=$(date +%s.%N)
      break
    fi
    kill -0 "$kmipd_pid" 2>/dev/null || break
    sleep 0.05
  done
  if [ -z "$ready" ]; then
    echo "scale: kmipd did not come up on $n keys:" >&2
    tail -20 "$work/serve-$n.log" >&2
    exit 1
  fi
  anon_ready=$(rss_kb "$kmipd_pid" RssAnon)
  file_ready=$(rss_kb "$kmipd_pid" RssFile)
  echo "scale: probing $n keys" >&2
  "$work/scaleprobe" --server "127.0.0.1:$port" --ca "$pki/ca.crt" --cert "$pki/client.crt" --key "$pki/client.key" \
    --count "$n" --reads "$reads" --writes "$writes" --budget "$budget" >"$work/probe-$n.json"
  anon_after=$(rss_kb "$kmipd_pid" RssAnon)
  file_after=$(rss_kb "$kmipd_pid" RssFile)
  rss_peak=$(rss_kb "$kmipd_pid" VmHWM)
  stop_kmipd
  cat >"$work/meta-$n.json" <<JSON
{"n": $n, "fill_s": $(awk "BEGIN { print $t1 - $t0 }"), "file_bytes": $size, "open_s": $(awk "BEGIN { print $ready - $s0 }"),
 "anon_ready_kb": $anon_ready, "file_ready_kb": $file_ready, "anon_after_kb": $anon_after,
 "file_after_kb": $file_after, "rss_peak_kb": $rss_peak}
JSON
  [ -n "${SCALE_KEEP:-}" ] || rm -rf "$dir"
done

/usr/bin/python3 - "$work" "${sizes[@]}" <<'PY'
import json, os, subprocess, sys

d, sizes = sys.argv[1], sys.argv[2:]
meta = {n: json.load(open(os.path.join(d, f"meta-{n}.json"))) for n in sizes}
probe = {n: json.load(open(os.path.join(d, f"probe-{n}.json"))) for n in sizes}

def out(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"

print(f"kmipd {out('git', 'describe', '--always', '--dirty')}; nproc {out('nproc')}; {out('go', 'version')}")
print(f"Load average (1/5/15 min) at the end: {open('/proc/loadavg').read().split()[:3]}")
print()
head = " | ".join(f"{int(n):,} keys" for n in sizes)
print(f"| | {head} |")
print("|---|" + "---:|" * len(sizes))
def row(label, f):
    print(f"| {label} | " + " | ".join(f(n) for n in sizes) + " |")
row("fill (kmipd dev fill)", lambda n: f"{meta[n]['fill_s']:.1f} s ({int(n) / meta[n]['fill_s']:,.0f}/s)")
row("store file", lambda n: f"{meta[n]['file_bytes'] / 2**20:,.0f} MiB")
row("file size per key", lambda n: f"{meta[n]['file_bytes'] / int(n):,.0f} B")
row("open: serve start to first answer", lambda n: f"{meta[n]['open_s'] * 1000:,.0f} ms")
mib = lambda kb: f"{kb / 1024:,.0f}"
row("server RSS when ready: anonymous + file MiB", lambda n: f"{mib(meta[n]['anon_ready_kb'])} + {mib(meta[n]['file_ready_kb'])}")
row("server RSS after the probe: anonymous + file MiB (peak RSS)",
    lambda n: f"{mib(meta[n]['anon_after_kb'])} + {mib(meta[n]['file_after_kb'])} ({mib(meta[n]['rss_peak_kb'])})")
ops = ["Get (first)", "Get (again)", "Locate by Name", "Locate by attribute", "Create", "Destroy"]
for op in ops:
    def cell(n, op=op):
        r = probe[n].get(op)
        if not r:
            return "–"
        return f"{r['p50_ms']:.2f} / {r['p99_ms']:.2f} ({r['samples']})"
    row(f"{op}: p50 / p99 ms (samples)", cell)
PY
