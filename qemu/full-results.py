#!/usr/bin/env python3
"""Results of QEMU's suites for `make check-qemu-full`, per backend.

    full-results.py meson TESTLOG.json OUT   meson's per-test log -> OUT
    full-results.py tap LOG OUT              iotests `check -tap` output -> OUT
    full-results.py only-ours DIR SUITE...   "suite test" that failed only with qemucoro
    full-results.py report DIR SUITE...      the table; exit 1 if qemucoro fails alone

OUT files hold one "test status" line per test, status pass, fail or skip.
DIR holds qemucoro/SUITE.txt, ucontext/SUITE.txt and, optionally,
rerun.txt ("suite test status": a qemucoro-only failure run once more).
"""
import json
import pathlib
import re
import sys

BACKENDS = ("qemucoro", "ucontext")
MESON_STATUS = {"OK": "pass", "EXPECTEDFAIL": "pass", "SKIP": "skip"}


def meson(testlog, out):
    lines = []
    for line in pathlib.Path(testlog).read_text().splitlines():
        if line.strip():
            t = json.loads(line)
            lines.append("%s %s" % (test_name(t["name"]), MESON_STATUS.get(t["result"], "fail")))
    write(out, lines)


def test_name(logged):
    """meson logs "unit - qemu:test-aio"; `meson test` takes "test-aio"."""
    return logged.split(" - ", 1)[-1].split(":", 1)[-1].replace(" ", "_")


TAP = re.compile(r"^(not ok|ok) \S+ (\S+)( # SKIP)?")


def tap(log, out):
    lines = []
    text = pathlib.Path(log).read_text(errors="replace")
    # With -j the harness's lines can run together ("ok raw 045 # SKIPok
    # raw 225 # SKIP"): put each result on a line of its own.
    text = re.sub(r"(?<=\S)(?=(?:not )?ok \S+ \S+)", "\n", text)
    for line in text.splitlines():
        m = TAP.match(line)
        if m:
            status = "fail" if m.group(1) == "not ok" else "skip" if m.group(3) else "pass"
            lines.append("%s %s" % (m.group(2), status))
    write(out, lines)


def write(out, lines):
    if not lines:
        sys.exit("full-results: no test results found for %s" % out)
    pathlib.Path(out).write_text("\n".join(lines) + "\n")


def load(path):
    p = pathlib.Path(path)
    if not p.exists():
        return None
    return dict(line.split() for line in p.read_text().splitlines() if line.strip())


def failed(results):
    return {t for t, s in results.items() if s == "fail"}


def only_ours(d, suites):
    for suite in suites:
        ours, theirs = (load(d / b / (suite + ".txt")) for b in BACKENDS)
        for t in sorted(failed(ours) - failed(theirs or {})):
            print(suite, t)


def reruns(d):
    got = {}
    p = d / "rerun.txt"
    if p.exists():
        for line in p.read_text().splitlines():
            suite, test, status = line.split()
            got[(suite, test)] = status
    return got


def counts(results):
    if results is None:
        return "(not run)"
    c = {s: sum(1 for v in results.values() if v == s) for s in ("pass", "fail", "skip")}
    return "%3d pass %3d fail %3d skip" % (c["pass"], c["fail"], c["skip"])


def report(d, suites):
    again = reruns(d)
    bad = 0
    print("%-7s  %-28s  %-28s" % ("suite", "qemucoro", "ucontext"))
    for suite in suites:
        ours, theirs = (load(d / b / (suite + ".txt")) for b in BACKENDS)
        print("%-7s  %-28s  %-28s" % (suite, counts(ours), counts(theirs)))
    for suite in suites:
        ours, theirs = (load(d / b / (suite + ".txt")) for b in BACKENDS)
        if ours is None:
            print("  %s: qemucoro results missing" % suite)
            bad += 1
            continue
        theirs = theirs or {}
        both = sorted(failed(ours) & failed(theirs))
        alone = sorted(failed(ours) - failed(theirs))
        uc_only = sorted(failed(theirs) - failed(ours))
        if both:
            print("  %s: environmental (fail with both backends): %s" % (suite, " ".join(both)))
        if uc_only:
            print("  %s: fail only with ucontext: %s" % (suite, " ".join(uc_only)))
        for t in alone:
            if again.get((suite, t)) == "pass":
                print("  %s: %s failed only with qemucoro, passed when run again (flaky)" % (suite, t))
            else:
                print("  %s: %s FAILS ONLY WITH QEMUCORO" % (suite, t))
                bad += 1
    return 1 if bad else 0


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    cmd = argv[1]
    if cmd == "meson" and len(argv) == 4:
        meson(argv[2], argv[3])
    elif cmd == "tap" and len(argv) == 4:
        tap(argv[2], argv[3])
    elif cmd == "only-ours":
        only_ours(pathlib.Path(argv[2]), argv[3:])
    elif cmd == "report":
        sys.exit(report(pathlib.Path(argv[2]), argv[3:]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
