#!/usr/bin/env bash
# Measures what the audit trail costs a Get: kmipctl bench --mix get against
# kmipd with the audit trail on (the default set-up) and off, between two
# runs of the tls-echo ceiling, in several alternating rounds, in one run on
# this machine, loopback only. With BENCH_BASELINE=DIR (a directory holding
# another build's kmipd, such as the main branch's), that build is measured
# in the same rounds too, on set-ups of its own.
#
# Usage (from anywhere): bash testdata/bench/audit.sh
#
#   BENCH_SECONDS=5         seconds per bench, 1-10
#   BENCH_ROUNDS=5          rounds, 1-20
#   BENCH_CONNS=16          connections per bench
#   BENCH_PORT=25720        first of four loopback ports
#   BENCH_BASELINE=DIR      also measure DIR/kmipd
#   BENCH_NO_BUILD=1        use bin/kmipd and bin/kmipctl as they are
#
# Every server it started is stopped on exit, also on failure or Ctrl-C,
# and the temporary directory is removed.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export PATH="/usr/local/go/bin:$PATH"

secs=${BENCH_SECONDS:-5}
rounds=${BENCH_ROUNDS:-5}
conns=${BENCH_CONNS:-16}
port=${BENCH_PORT:-25720}
baseline=${BENCH_BASELINE:-}
case $secs in [1-9] | 10) ;; *)
  echo "bench: BENCH_SECONDS=$secs: want 1 to 10" >&2
  exit 2
  ;;
esac
case $rounds in [1-9] | 1[0-9] | 20) ;; *)
  echo "bench: BENCH_ROUNDS=$rounds: want 1 to 20" >&2
  exit 2
  ;;
esac
if [ -n "$baseline" ] && [ ! -x "$baseline/kmipd" ]; then
  echo "bench: BENCH_BASELINE=$baseline: no kmipd there" >&2
  exit 2
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "${BENCH_NO_BUILD:-}" ]; then
  make -s build >&2
fi

# A server: NAME KMIPD AUDIT(on|off) PORT.
servers=("kmipd:bin/kmipd:on:$port" "kmipd:bin/kmipd:off:$((port + 1))")
if [ -n "$baseline" ]; then
  servers+=("baseline:$baseline/kmipd:on:$((port + 2))" "baseline:$baseline/kmipd:off:$((port + 3))")
fi
ctl() { # DIR PORT ARGS...
  local d=$1 p=$2
  shift 2
  bin/kmipctl --server "127.0.0.1:$p" --ca "$d/pki/ca.crt" --cert "$d/pki/client.crt" --key "$d/pki/client.key" "$@"
}
for s in "${servers[@]}"; do
  IFS=: read -r name exe audit p <<<"$s"
  d=$work/$name-$audit
  "$exe" init --dir "$d" --listen "127.0.0.1:$p" >/dev/null
  if [ "$audit" = off ]; then
    # The default set-up with only the trail switched off.
    sed -i '/^audit:/,/^[a-z]/ s/^\(    enabled:\) true/\1 false/' "$d/kmipd.yaml"
    grep -q '^    enabled: false' "$d/kmipd.yaml" || {
      echo "bench: could not switch the audit trail off in $d/kmipd.yaml" >&2
      exit 1
    }
  fi
  setsid env KMIPD_LOG_LEVEL=warn "$exe" serve --dir "$d" >"$d.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    ctl "$d" "$p" --timeout 2s ping >/dev/null 2>&1 && break
    sleep 0.2
  done
  ctl "$d" "$p" --timeout 2s ping >/dev/null || {
    tail -20 "$d.log" >&2
    exit 1
  }
done

json=$work/json
mkdir -p "$json"
bench() { # LABEL DIR PORT MIX
  ctl "$2" "$3" bench --conns "$conns" --duration "${secs}s" --mix "$4" --json "$json/$1.json" >"$json/$1.txt" 2>&1 || {
    cat "$json/$1.txt" >&2
    exit 1
  }
}
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
first=$work/kmipd-on
for r in $(seq "$rounds"); do
  echo "bench: round $r of $rounds" >&2
  bench "r$r-echo1" "$first" "$port" tls-echo
  for s in "${servers[@]}"; do
    IFS=: read -r name exe audit p <<<"$s"
    bench "r$r-$name-$audit" "$work/$name-$audit" "$p" get
  done
  bench "r$r-echo2" "$first" "$port" tls-echo
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$json" "$rounds" "$secs" "$conns" "$load_start" "$load_end" "${baseline:+baseline}" <<'PY'
import json, os, statistics, sys

d, rounds, secs, conns, load_start, load_end, base = sys.argv[1:8]
rounds = int(rounds)
names = [("kmipd", "kmipd")] + ([("baseline", "baseline")] if base else [])

def ops(label):
    with open(os.path.join(d, label + ".json")) as f:
        r = json.load(f)
    if r["errors"]:
        sys.exit(f"bench: {label}: {r['errors']} errors")
    return r["ops_per_sec"]

print(f"Load average (1/5/15 min) at the start: {load_start}; at the end: {load_end}")
print(f"Each bench: kmipctl bench --conns {conns} --duration {secs}s, KMIP 2.0; each round: tls-echo, "
      + ", ".join(f"get ({n}, audit {a})" for n, _ in names for a in ("on", "off")) + ", tls-echo")
print()
cols = [(n, a) for n, _ in names for a in ("on", "off")]
print("| round | tls-echo ops/s | " + " | ".join(f"{n} audit {a}: Get ops/s (/ echo)" for n, a in cols) + " |")
print("|---:|---:|" + "---:|" * len(cols))
ratios = {c: [] for c in cols}
for r in range(1, rounds + 1):
    echo = (ops(f"r{r}-echo1") + ops(f"r{r}-echo2")) / 2
    cells = []
    for n, a in cols:
        g = ops(f"r{r}-{n}-{a}")
        ratios[(n, a)].append(g / echo)
        cells.append(f"{g:,.0f} ({g / echo:.2f})")
    print(f"| {r} | {echo:,.0f} | " + " | ".join(cells) + " |")
print()
print("| Get / tls-echo, per round | median | mean | min | max |")
print("|---|---:|---:|---:|---:|")
for n, a in cols:
    v = ratios[(n, a)]
    print(f"| {n}, audit {a} | {statistics.median(v):.2f} | {statistics.mean(v):.2f} | {min(v):.2f} | {max(v):.2f} |")
PY
