#!/usr/bin/python3
"""Per-test report of PyKMIP's integration suite for conformance/REPORT.md.

  pykmip_report.py merge OUT.json VERSION=TRACE.json...
      record a server's per-test outcomes (the reference column)
  pykmip_report.py report --exceptions FILE --reference REF.json --report REPORT.md VERSION=TRACE.json...
      write the "PyKMIP integration suite" section of REPORT.md (between its
      markers, replacing an earlier one) and exit 1 if a test failed that the
      exceptions file does not explain for that version

TRACE.json is what the suite's version_plugin writes (PYKMIP_SUITE_TRACE_JSON).
The exceptions file has one line per expected failure:
  VERSIONS | TEST | WHAT KMIPD ANSWERS | WHY (the spec clause, or the client code)
VERSIONS is "all" or a comma-separated list (1.2,1.4,2.0); TEST is
file.py::Class::test as pytest names it below integration/services/.
"""
import json
import sys

BEGIN = "<!-- pykmip-suite: written by conformance/pykmip-suite.sh -->"
END = "<!-- /pykmip-suite -->"


def short(nodeid):
    return nodeid.split("integration/services/", 1)[-1]


def load_trace(path):
    with open(path) as fh:
        tests = json.load(fh)["tests"]
    out = {}
    for nodeid, t in tests.items():
        if t.get("outcome") in ("passed", "failed", "error"):
            out[short(nodeid)] = {"outcome": t["outcome"], "error": t.get("error")}
    return out


def pairs(args):
    res = {}
    for a in args:
        v, _, path = a.partition("=")
        if not path:
            sys.exit("pykmip_report: want VERSION=FILE, got %r" % a)
        res[v] = load_trace(path)
    return res


def load_exceptions(path):
    exc = []
    with open(path) as fh:
        for n, line in enumerate(fh, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split("|")]
            if len(parts) != 4 or not all(parts):
                sys.exit("%s:%d: want VERSIONS | TEST | ANSWER | WHY" % (path, n))
            exc.append({"versions": parts[0], "test": parts[1], "answer": parts[2], "why": parts[3]})
    return exc


def excused(exc, version, test):
    for e in exc:
        if e["test"] == test and (e["versions"] == "all" or version in e["versions"].split(",")):
            return e
    return None


def cell(r):
    if r is None:
        return "–"
    return "pass" if r["outcome"] == "passed" else "**fail**"


def counts(results):
    p = sum(1 for r in results.values() if r["outcome"] == "passed")
    return p, len(results) - p


def report(argv):
    opts, rest = {}, []
    i = 0
    while i < len(argv):
        if argv[i] in ("--exceptions", "--reference", "--report"):
            opts[argv[i][2:]] = argv[i + 1]
            i += 2
        else:
            rest.append(argv[i])
            i += 1
    runs = pairs(rest)
    exc = load_exceptions(opts["exceptions"])
    ref = {}
    try:
        with open(opts["reference"]) as fh:
            ref = json.load(fh)["versions"]
    except FileNotFoundError:
        pass
    versions = list(runs)
    tests = sorted({t for r in runs.values() for t in r} | {t for r in ref.values() for t in r})

    bad, stale = [], []
    for v in versions:
        for t, r in sorted(runs[v].items()):
            e = excused(exc, v, t)
            if r["outcome"] != "passed" and e is None:
                bad.append((v, t, r.get("error")))
            elif r["outcome"] == "passed" and e is not None:
                stale.append((v, t))

    out = [BEGIN, "", "## PyKMIP integration suite", ""]
    out.append("PyKMIP's own integration suite (`../shared/pykmip-suite`, PyKMIP at a pinned commit, unmodified) "
               "against a fresh `kmipd serve` on its defaults, one server per version; the reference is PyKMIP's own "
               "server (`pykmip-server`, Debian python3-pykmip) run the same way (`conformance/pykmip-suite.sh --reference`). "
               "Run with `make pykmip-suite` (part of `make test`).")
    out.append("")
    out.append("| KMIP version | kmipd | PyKMIP server |")
    out.append("|---|---|---|")
    for v in versions:
        p, f = counts(runs[v])
        rp = "%d passed, %d failed" % counts(ref[v]) if v in ref else "not recorded"
        out.append("| %s | %d passed, %d failed | %s |" % (v, p, f, rp))
    out.append("")
    head = "| test |" + "".join(" kmipd %s | PyKMIP %s |" % (v, v) for v in versions)
    out.append(head)
    out.append("|---|" + "---|---|" * len(versions))
    for t in tests:
        row = "| `%s` |" % t
        for v in versions:
            row += " %s | %s |" % (cell(runs[v].get(t)), cell(ref.get(v, {}).get(t)))
        out.append(row)
    out.append("")
    out.append("### Why the failing tests fail")
    out.append("")
    out.append("Each failure is explained in `conformance/pykmip-exceptions.txt`; the run fails on any other.")
    out.append("")
    out.append("| versions | test | kmipd answers | why |")
    out.append("|---|---|---|---|")
    for e in exc:
        out.append("| %s | `%s` | %s | %s |" % (e["versions"], e["test"], e["answer"], e["why"]))
    out.append("")
    out.append(END)
    section = "\n".join(out) + "\n"

    path = opts["report"]
    try:
        with open(path) as fh:
            text = fh.read()
    except FileNotFoundError:
        text = ""
    if BEGIN in text and END in text:
        a = text.index(BEGIN)
        b = text.index(END) + len(END)
        text = text[:a] + section.rstrip("\n") + text[b:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as fh:
        fh.write(text)

    for v in versions:
        p, f = counts(runs[v])
        rp = " (PyKMIP server: %d of %d)" % (counts(ref[v])[0], sum(counts(ref[v]))) if v in ref else ""
        print("pykmip-suite: KMIP %s: %d of %d pass%s" % (v, p, p + f, rp))
    for v, t in stale:
        print("pykmip-suite: KMIP %s: %s passes now: drop it from the exceptions" % (v, t))
    for v, t, err in bad:
        print("pykmip-suite: KMIP %s: UNEXPLAINED FAILURE %s: %s" % (v, t, err))
    return 1 if bad else 0


def merge(argv):
    out, rest = argv[0], argv[1:]
    runs = pairs(rest)
    with open(out, "w") as fh:
        json.dump({"versions": runs}, fh, indent=1, sort_keys=True)
        fh.write("\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("merge", "report"):
        sys.exit(__doc__)
    sys.exit((merge if sys.argv[1] == "merge" else report)(sys.argv[2:]))
