#!/usr/bin/env python3
"""Runs the benchmark linked against qemucoro and against QEMU's own
coroutines in turn, several rounds each, and prints the median of every
figure for both with the ratio ours/QEMU.

Usage: compare.py OURS_BINARY [QEMU_BINARY|-] [--shared OURS_SHARED]
                  [--got OURS_GOT] [--floor FLOOR_BINARY] [--rounds N]

FLOOR_BINARY (bench/floor/) prints the raw switch floors, measured in the
same rounds and shown beside ours.

OURS_SHARED is the same benchmark linked against libqemucoro.so instead of
the archive; its column is measured in the same rounds (goal: within 1.1x
of the static figure on every row). OURS_GOT is the archive again, linked
so that the program calls it through the GOT as it must call a shared
library: the floor for the .so, also measured in the same rounds.

Alternating the two programs round by round spreads the machine's noise
over both sides instead of letting it land on one.
"""

import argparse
import statistics
import subprocess
import sys

# Figure: (what it measures, goal for ours/QEMU or None)
FIGURES = {
    "perf/function-call": ("plain C function call (baseline)", None),
    "perf/lifecycle": ("create + enter + return", 0.15),
    "perf/yield": ("enter + yield round trip", 0.15),
    "perf/cost": ("create + enter + yield + enter", 0.20),
    "perf/nesting": ("1000-deep nesting, per coroutine", 0.01),
    "lock/co-mutex-uncontended": ("CoMutex lock + unlock, no contention", None),
    "lock/co-mutex-contended-1cpu": ("CoMutex lock + unlock, 2 threads on 1 CPU", 1.0),
    "lock/co-mutex-contended-2cpu": ("... 2 threads on 2 CPUs", 1.0),
    "aio/co-schedule-ping-pong-1cpu": ("aio_co_schedule between 2 threads on 1 CPU, per hop", 1.0),
    "aio/co-schedule-ping-pong-2cpu": ("... 2 threads on 2 CPUs", 1.0),
    "aio/co-sleep-0": ("qemu_co_sleep_ns(0) through the loop", None),
    "aio/bh-schedule-poll": ("qemu_bh_schedule + aio_poll that runs it", None),
    "aio/fd-handler-pipe": ("pipe write + aio_poll running its read handler", None),
}
FLOORS = {
    "floor/jmp": "our switch (leaves with jmp), called straight from both loops",
    "floor/ret": "... the same switch leaving with ret",
    "floor/jmp-checks": "... with QEMU's checks inlined (NULL, scheduled, re-entry, caller, TLS current, wake-ups)",
    "floor/corosensei": "corosensei resume + suspend, suspend inlined",
    "floor/corosensei-nested2": "... resume and suspend each one call deep",
    "floor/context": "context crate (Boost.Context fcontext) round trip",
}
SHARED_GOAL = 1.1
MEMORY_N = 100000


def run_once(binary, *args):
    """One run of a benchmark binary: {name: value} from its output."""
    proc = subprocess.run([binary, *args], capture_output=True, text=True)
    figures = {}
    for line in proc.stdout.splitlines():
        name, _, value = line.partition(" ")
        try:
            figures[name] = float(value)
        except ValueError:
            pass
    if proc.returncode != 0:
        figures["_error"] = (proc.stderr.strip().splitlines() or ["exit %d" % proc.returncode])[-1]
    return figures


def medians(rounds):
    names = {n for r in rounds for n in r if not n.startswith("_")}
    return {n: statistics.median(r[n] for r in rounds if n in r) for n in names}


def fmt(v):
    return "-" if v is None else ("%.2f" % v if v < 100 else "%.0f" % v)


# Scale rows: absolute goals for ours (a million suspended coroutines stay
# cheap to create and switch, and within the default mapping limit), QEMU
# for reference.
# N: (rounds, {figure: (what, goal or None)})
SCALE = {
    100000: {
        "scale/create": ("create + first enter, ns, with N live", 2500),
        "scale/first-touch": ("... floor: first write to a fresh page 1 MiB apart, ns", None),
        "scale/random-enter-yield": ("enter + yield on a random suspended one, ns", 300),
        "scale/rss-per-coroutine": ("RSS per suspended coroutine, bytes", 4608),
        "scale/mappings": ("mappings in the process", None),
    },
    1000000: {
        "scale/create": ("create + first enter, ns, with N live", 2500),
        "scale/first-touch": ("... floor: first write to a fresh page 1 MiB apart, ns", None),
        "scale/random-enter-yield": ("enter + yield on a random suspended one, ns", None),
        "scale/rss-per-coroutine": ("RSS per suspended coroutine, bytes", None),
        "scale/mappings": ("mappings in the process", 20000),
    },
}
# Bursts: ours within 1.5x of QEMU's RSS (the pool must not pin the memory
# of a burst of deep coroutines).
BURST_THREADS = 8
BURSTS = {
    "burst/rss-after-one-mib": "MiB kept after 8192 coroutines used 64 KiB each and ended",
    "burst/rss-after-idle-threads-mib": "... plus 8 threads idle after such a burst each",
}


def scale_and_bursts(ours, qemu, rounds):
    """Prints the scale and burst sections; returns the goals missed."""
    failed = []
    for n, figures in SCALE.items():
        # 1M live takes seconds and gigabytes: one round of it.
        r = rounds if n < 1000000 else 1
        o_runs, q_runs = [], []
        for _ in range(r):
            o_runs.append(run_once(ours, "--scale", str(n)))
            if qemu:
                q_runs.append(run_once(qemu, "--scale", str(n)))
        o, q = medians(o_runs), medians(q_runs) if qemu else {}
        print()
        print("Scale: %d coroutines suspended at once (median of %d)" % (n, r))
        for runs, label in ((o_runs, "qemucoro"), (q_runs, "QEMU")):
            errs = [x["_error"] for x in runs if "_error" in x]
            if errs:
                print("  %s failed: %s" % (label, errs[0]))
        print("%-28s %10s %10s %6s  %s" % ("figure", "qemucoro", "QEMU", "goal", "what"))
        for name, (what, goal) in figures.items():
            ov, qv = o.get(name), q.get(name)
            mark = ""
            if goal is not None and ov is not None:
                mark = "ok" if ov <= goal else "MISS"
                if ov > goal:
                    failed.append("%s@%d" % (name, n))
            print("%-28s %10s %10s %6s  %s %s" % (name, fmt(ov), fmt(qv), fmt(goal), what, mark))
    o = run_once(ours, "--burst", str(BURST_THREADS))
    q = run_once(qemu, "--burst", str(BURST_THREADS)) if qemu else {}
    print()
    print("Bursts: RSS kept after coroutines finished (goal: <= 1.5x QEMU)")
    for label, m in (("qemucoro", o), ("QEMU", q)):
        if "_error" in m:
            print("  %s failed: %s" % (label, m["_error"]))
    for name, what in BURSTS.items():
        ov, qv = o.get(name), q.get(name)
        ratio = ov / qv if ov is not None and qv else None
        mark = ""
        if ratio is not None:
            mark = "ok" if ratio <= 1.5 else "MISS"
            if ratio > 1.5:
                failed.append(name)
        print("%-32s %8s %8s %6s  %s %s" % (name, fmt(ov), fmt(qv), fmt(ratio), what, mark))
    return failed


def shared_floor(ours, shared, got):
    """How much of the .so's cost any shared library pays: the caller's
    calls through the GOT, measured on the archive."""
    print()
    print("Shared-library floor (same runs): a+GOT = the archive called through the GOT")
    print("%-26s %9s %9s %9s %7s %7s" % ("figure", "qemucoro", "a+GOT", ".so", "got/a", "so/got"))
    for name in FIGURES:
        o, g, so = ours.get(name), got.get(name), shared.get(name)
        if None in (o, g, so) or name == "perf/function-call":
            continue
        print("%-26s %9s %9s %9s %7s %7s" % (name, fmt(o), fmt(g), fmt(so), fmt(g / o), fmt(so / g)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ours")
    ap.add_argument("qemu", nargs="?", default="-")
    ap.add_argument("--shared")
    ap.add_argument("--got")
    ap.add_argument("--floor")
    ap.add_argument("--rounds", type=int, default=3)
    # Names the second binary when it is not QEMU's (e.g. an older build of
    # ours, for a same-run before/after ratio).
    ap.add_argument("--second-name", default="QEMU")
    a = ap.parse_args()
    have_qemu = a.qemu != "-"

    ours_rounds, qemu_rounds, shared_rounds, got_rounds = [], [], [], []
    for i in range(a.rounds):
        print("round %d/%d ..." % (i + 1, a.rounds), file=sys.stderr, flush=True)
        ours_rounds.append(run_once(a.ours))
        if a.floor:
            ours_rounds[-1].update(run_once(a.floor))
        if a.shared:
            shared_rounds.append(run_once(a.shared))
        if a.got:
            got_rounds.append(run_once(a.got, "perf/"))
        if have_qemu:
            qemu_rounds.append(run_once(a.qemu))
    ours = medians(ours_rounds)
    qemu = medians(qemu_rounds) if have_qemu else {}
    shared = medians(shared_rounds) if a.shared else {}
    got = medians(got_rounds) if a.got else {}

    print("Medians of %d rounds, ns per operation (lower is better)" % a.rounds)
    if not have_qemu:
        print("QEMU baseline: missing (QEMU's tree could not be built); ours only")
    print("qemucoro = the static archive; .so = the same program on libqemucoro.so;")
    print("ratio = qemucoro/%s; so/a = .so/qemucoro (goal <= %.1f)" % (a.second_name, SHARED_GOAL))
    print("%-30s %9s %9s %9s %7s %6s %6s  %s" % (
        "figure", "qemucoro", ".so", a.second_name, "ratio", "goal", "so/a", "what"))
    failed = []
    for name, (what, goal) in FIGURES.items():
        o, q, so = ours.get(name), qemu.get(name), shared.get(name)
        if o is None and q is None:
            continue
        ratio = o / q if o is not None and q else None
        so_ratio = so / o if so is not None and o else None
        mark = ""
        if goal is not None and ratio is not None:
            mark = "ok" if ratio <= goal else "MISS"
            if ratio > goal:
                failed.append(name)
        if so_ratio is not None and so_ratio > SHARED_GOAL and name != "perf/function-call":
            failed.append(name + " (.so)")
            mark += " .so-MISS"
        print("%-30s %9s %9s %9s %7s %6s %6s  %s %s" % (
            name, fmt(o), fmt(so), fmt(q), fmt(ratio), fmt(goal), fmt(so_ratio), what, mark))
    if got and shared:
        shared_floor(ours, shared, got)
    print()
    print("Raw switch floor (same runs, ours)")
    for name, what in FLOORS.items():
        if name in ours:
            print("%-28s %10s  %s" % (name, fmt(ours[name]), what))
    for floor, goal in (("floor/jmp-checks", 1.5), ("floor/jmp", None), ("floor/ret", None)):
        if "perf/yield" in ours and floor in ours:
            r = ours["perf/yield"] / ours[floor]
            mark = "" if goal is None else (" (goal <= %.1f) %s" % (goal, "ok" if r <= goal else "MISS"))
            if goal is not None and r > goal:
                failed.append("perf/yield vs " + floor)
            print("%-28s %10s  perf/yield / %s%s" % ("yield vs " + floor[6:], fmt(r), floor, mark))

    print()
    print("Memory: %d coroutines suspended at once" % MEMORY_N)
    for label, binary in [("qemucoro", a.ours)] + ([(a.second_name, a.qemu)] if have_qemu else []):
        m = run_once(binary, "--memory", str(MEMORY_N))
        if "_error" in m:
            print("  %-9s failed: %s" % (label, m["_error"]))
        else:
            print("  %-9s %6.0f bytes RSS and %.3f mappings per coroutine" % (
                label, m["memory/rss-per-coroutine"], m["memory/maps-per-coroutine"]))
    failed += scale_and_bursts(a.ours, a.qemu if have_qemu else None, a.rounds)
    if failed:
        print("\nGoals missed: " + ", ".join(failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
