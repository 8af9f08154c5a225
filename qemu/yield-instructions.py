#!/usr/bin/env python3
"""Instructions per perf/yield round trip, by who runs them, from a callgrind
dump of QEMU's test-coroutine (qemu/bench-qemu.sh makes the dumps).

Usage: yield-instructions.py NAME CALLGRIND_OUT
Prints: NAME, then instructions per enter+yield in the backend, in QEMU's
generic coroutine code, in the test's loop, and in all.

Instructions are grouped by the source file their debug information names,
not by function: callgrind's idea of the current function is lost across a
stack switch, while an instruction's file is not. The round trips are the
calls into qemu_coroutine_yield.
"""
import re
import subprocess
import sys

# QEMU's generic path: util/qemu-coroutine.c, qemu_get_current_aio_context
# (util/async.c), the BQL stub and the trace checks inlined from headers.
GENERIC = ("/util/qemu-coroutine.c", "/util/async.c", "/stubs/", "/trace/",
           "/include/qemu/")
TEST = "/tests/unit/test-coroutine.c"
COST = re.compile(r"\s*([\d,]+) \([ \d.]+%\)\s+(.*?):(\S+)")


def round_trips(dump: str) -> int:
    """Sum of the calls into qemu_coroutine_yield, from the raw dump."""
    ids, calls, target = {}, 0, None
    with open(dump) as f:
        for line in f:
            m = re.match(r"cfn=\((\d+)\)(?: (\S+))?", line)
            if m:
                if m.group(2):
                    ids[m.group(1)] = m.group(2)
                target = ids.get(m.group(1))
                continue
            m = re.match(r"fn=\((\d+)\) (\S+)", line)
            if m:
                ids[m.group(1)] = m.group(2)
            if line.startswith("calls=") and target == "qemu_coroutine_yield":
                calls += int(line.split()[0][len("calls="):])
            target = None if not line.startswith("calls=") else target
    return calls


def by_group(dump: str) -> dict:
    out = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100", dump],
                         capture_output=True, text=True, check=True).stdout
    groups = {"backend": 0, "generic": 0, "test": 0}
    for line in out.splitlines():
        m = COST.match(line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        ir, path = int(m.group(1).replace(",", "")), m.group(2)
        if TEST in path:
            groups["test"] += ir
        elif any(g in path for g in GENERIC):
            groups["generic"] += ir
        else:
            groups["backend"] += ir
    return groups


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    name, dump = sys.argv[1:]
    n = round_trips(dump)
    if n == 0:
        sys.exit(f"yield-instructions: no calls into qemu_coroutine_yield in {dump}")
    g = by_group(dump)
    total = sum(g.values())
    print(f"{name:<13} {g['backend'] / n:9.0f} {g['generic'] / n:9.0f} "
          f"{g['test'] / n:9.0f} {total / n:9.0f}")


if __name__ == "__main__":
    main()
