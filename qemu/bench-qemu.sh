#!/bin/sh
# `make bench-qemu`: the same QEMU tree built twice, with QEMU's ucontext
# backend and with qemucoro, plus test-coroutine relinked a third time on
# the floor backend (qemu/bench-floor-backend.c: the bare switch, the least
# any backend can do); test-coroutine's perf cases on all three and
# qemu-img bench on null-co on the first two run alternately and are printed
# side by side. Then perf/yield's time (perf record) and instructions
# (callgrind) per round trip, split into backend, QEMU's generic code and
# the test's loop, for all three, where perf and valgrind are installed.
#   QEMU_VERSION, QEMU_SRC, QEMU_DL_DIR as for check-qemu.sh
#   BENCH_ROUNDS=3   runs of each case per backend; best and median printed
#   BENCH_REQUESTS=2000000   qemu-img bench requests per run
#   BENCH_CALLGRIND_SECONDS=15   how long each callgrind run counts
set -eu
. "$(dirname "$0")/common.sh"

ROUNDS=${BENCH_ROUNDS:-3}
REQUESTS=${BENCH_REQUESTS:-2000000}
# /perf/nesting is left out: with ucontext it takes ~90 s, almost all of it
# allocating 1000-deep stacks, which measures mmap rather than switching.
PERF_CASES="lifecycle yield function-call cost"

# perf_case BIN CASE -> seconds, as test-coroutine prints them.
perf_case() {
    out=$("$1" -m perf -p "/perf/$2" 2>&1) || die "$1 -m perf -p /perf/$2 failed: $out"
    case $2 in
        cost) echo "$out" | sed -n 's/.*iterations \([0-9.]*\) s,.*/\1/p' ;;
        *) echo "$out" | sed -n 's/.*iterations[^:]*: \([0-9.]*\) s.*/\1/p' ;;
    esac
}

# mutex_case BIN CASE -> ns per CoMutex lock+unlock, from the iterations
# per second test-aio-multithread prints for /aio/multi/mutex/CASE
# (contended: 1 s, one coroutine per iothread; handoff: 3 s, 2 iothreads).
# Its mcs and pthread cases lock other mutexes, not CoMutex.
mutex_case() {
    out=$("$1" --verbose -p "/aio/multi/mutex/$2" 2>&1) ||
        die "$1 -p /aio/multi/mutex/$2 failed: $out"
    echo "$out" | sed -n 's/^# \([0-9]*\) iterations\/second.*/\1/p' |
        awk '$1 > 0 { printf "%.1f\n", 1e9 / $1 }'
}

# img_bench QEMU_IMG DEPTH -> seconds for $REQUESTS 4 KiB reads from null-co.
img_bench() {
    "$1" bench -c "$REQUESTS" -d "$2" -s 4096 --image-opts driver=null-co |
        sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p'
}


# measure NAME CMD_UCONTEXT CMD_SWITCH CMD_FULL [CMD_FLOOR]: alternates the
# commands ROUNDS times and prints a row: each side's best, and each
# qemucoro side's (and the floor's) ratio to ucontext's best with, in
# brackets, the ratio of the medians.
measure() {
    name=$1; shift
    t1=""; t2=""; t3=""; t4=""
    i=0
    while [ "$i" -lt "$ROUNDS" ]; do
        j=1
        for side in "$@"; do
            eval "t$j=\"\$t$j $(eval "$side")\""
            j=$((j + 1))
        done
        i=$((i + 1))
    done
    bests=""; medians=""; j=1
    for side in "$@"; do
        eval "v=\$t$j"
        # shellcheck disable=SC2086,SC2154
        b=$(min $v); m=$(median $v)
        [ -n "$b" ] || die "no timing for $name ($side)"
        bests="$bests $b"; medians="$medians $m"; j=$((j + 1))
    done
    echo "$bests|$medians" | awk -v n="$name" -F'|' '{
        nb = split($1, b, " "); split($2, m, " ")
        line = sprintf("%-22s", n)
        for (j = 1; j <= 4; j++) line = line sprintf(" %9s", j <= nb ? sprintf("%.3f", b[j]) : "-")
        for (j = 2; j <= 4; j++)
            line = line sprintf(" %13s", j <= nb ? sprintf("%.2f (%.2f)", b[j] / b[1], m[j] / m[1]) : "-")
        print line }'
}

# build_floor: test-coroutine linked again from the ucontext tree's objects
# with qemu/bench-floor-backend.c in front of libqemuutil.a, whose
# coroutine-ucontext.c.o then stays out. Sets F_TEST.
build_floor() {
    F=$WORK/build-$QV-floor
    mkdir -p "$F"
    cc -O2 -fPIE -Wall -Werror -c -o "$F/floor-backend.o" "$ROOT/qemu/bench-floor-backend.c" ||
        die "compiling qemu/bench-floor-backend.c failed"
    link=$(ninja -C "$U" -t commands tests/unit/test-coroutine | tail -1)
    case $link in
        *" -o tests/unit/test-coroutine "*) ;;
        *) die "unexpected link command for test-coroutine: $link" ;;
    esac
    link=$(printf '%s\n' "$link" |
        sed "s# -o tests/unit/test-coroutine # -o $F/test-coroutine $F/floor-backend.o #")
    (cd "$U" && eval "$link") || die "linking $F/test-coroutine failed"
    F_TEST=$F/test-coroutine
    nm "$F_TEST" | grep -q floor_fiber_start || die "$F_TEST is not a floor build"
    ! nm "$F_TEST" | grep -q coroutine_trampoline || die "$F_TEST still has ucontext's backend"
    # The floor has no checks at all: it must at least pass test-coroutine's
    # own (non-perf) cases before its times mean anything.
    "$F_TEST" >"$F/test-coroutine.log" 2>&1 || {
        tail -20 "$F/test-coroutine.log"; die "test-coroutine fails on the floor backend"; }
}

# Where perf/yield's time goes, by function, from `perf record -e cpu-clock`
# (a software clock, so it works in a VM without hardware counters). QEMU's
# generic enter/yield path (util/qemu-coroutine.c, util/async.c) is the
# same code in all three builds; the backend is everything else in user
# space but the test's own two functions.
GENERIC="qemu_aio_coroutine_enter qemu_coroutine_enter qemu_coroutine_yield
    qemu_get_current_aio_context get_my_aiocontext bql_locked qemu_get_aio_context"
TEST_LOOP="perf_yield yield_loop"

# yield_split NAME BIN: one profiled perf/yield run; prints ns per
# enter+yield in all, in the backend, in QEMU's generic code, in the test's
# loop and in the kernel.
yield_split() {
    data=$F/perf-yield-$1.data
    out=$(perf record -q -e cpu-clock -F 5000 -o "$data" "$2" -m perf -p /perf/yield 2>&1) ||
        { echo "$1: perf record failed"; return 0; }
    secs=$(echo "$out" | sed -n 's/.*iterations[^:]*: \([0-9.]*\) s.*/\1/p')
    perf report -i "$data" --stdio --sort sym -q 2>/dev/null |
        awk -v n="$1" -v secs="$secs" -v g="$GENERIC" -v t="$TEST_LOOP" '
        BEGIN { split(g, a); for (i in a) G[a[i]] = 1; split(t, a); for (i in a) T[a[i]] = 1 }
        $1 ~ /%$/ { p = $1 + 0
            if ($2 == "[k]") k += p; else if ($3 in G) gen += p; else if ($3 in T) tl += p; else be += p }
        END { ns = secs * 10  # 10^8 iterations
            printf "%-10s %8.1f %9.1f %9.1f %9.1f %8.1f\n", n, ns, ns * be / 100, ns * gen / 100,
                ns * tl / 100, ns * k / 100 }'
}

yield_splits() {
    if ! perf record -q -e cpu-clock -o "$F/perf-probe.data" true >/dev/null 2>&1; then
        echo "(perf record -e cpu-clock does not work here: no perf/yield split)"
        return 0
    fi
    log "perf/yield split by function (perf record -e cpu-clock, one run each; ns per enter+yield)"
    printf "%-10s %8s %9s %9s %9s %8s\n" build all backend "QEMU gen." "test loop" kernel
    yield_split ucontext "$U/tests/unit/test-coroutine"
    yield_split qemucoro "$Q/tests/unit/test-coroutine"
    yield_split floor "$F_TEST"
    # shellcheck disable=SC2086
    echo "QEMU gen. = $(echo $GENERIC) (the same code in all three);"
    echo "test loop = $TEST_LOOP, which includes the mispredicted return out of"
    echo "qemu_aio_coroutine_enter: the samples of that miss land where it returns to."
}

# The same split in instructions, which timing noise does not move: each
# build's perf/yield under callgrind for BENCH_CALLGRIND_SECONDS (15), all
# three at once, dumped while the loop runs (the test's 10^8 round trips
# would take many minutes), then grouped by qemu/yield-instructions.py.
yield_instructions() {
    if ! command -v valgrind >/dev/null || ! command -v callgrind_control >/dev/null; then
        echo "(no valgrind: no instruction counts)"
        return 0
    fi
    log "perf/yield instructions per enter+yield (callgrind, grouped by source file)"
    pids=""
    for b in ucontext qemucoro qemucoro-full floor; do
        case $b in floor) bin=$F_TEST ;; *) bin=$WORK/build-$QV-$b/tests/unit/test-coroutine ;; esac
        rm -f "$F/callgrind-$b".*
        valgrind --tool=callgrind --callgrind-out-file="$F/callgrind-$b.out" \
            "$bin" -m perf -p /perf/yield >"$F/callgrind-$b.log" 2>&1 &
        pids="$pids $!"
    done
    sleep "${BENCH_CALLGRIND_SECONDS:-15}"
    # callgrind_control returns once the dump is written.
    for pid in $pids; do callgrind_control -d "$pid" >/dev/null 2>&1 || true; done
    # shellcheck disable=SC2086
    kill $pids 2>/dev/null || true
    for pid in $pids; do wait "$pid" 2>/dev/null || true; done
    printf "%-13s %9s %9s %9s %9s\n" build backend "QEMU gen." "test loop" all
    for b in ucontext qemucoro qemucoro-full floor; do
        "$PY" "$ROOT/qemu/yield-instructions.py" "$b" "$F/callgrind-$b.out.1" ||
            echo "$b: no callgrind dump (see $F/callgrind-$b.log)"
    done
    echo "QEMU gen. = util/qemu-coroutine.c, util/async.c, stubs/, trace/ and include/qemu/"
    echo "code; test loop = tests/unit/test-coroutine.c; backend = everything else (in full"
    echo "mode, qemucoro-full, that is our whole enter and yield: QEMU's are not linked)."
}

main() {
    select_version
    log "bench-qemu: QEMU $QV, ucontext vs qemucoro (switch and full mode) vs the floor backend"
    install_system_deps
    select_python
    prepare_source
    configure_mode_trees
    for b in "$U" "$Q" "$QF"; do
        build_targets "$b" qemu-img tests/unit/test-coroutine tests/unit/test-aio-multithread
    done
    nm "$U/qemu-img" | grep -q coroutine_trampoline || die "$U is not a ucontext build"
    built_with "$Q/qemu-img" switch || die "$Q is not a qemucoro build"
    built_with "$QF/qemu-img" full || die "$QF is not a qemucoro full-mode build"
    build_floor

    log "$ROUNDS runs each, alternating; seconds (lower is better)"
    # Other load on the machine skews all sides; say how much there was.
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
    printf "%-22s %9s %9s %9s %9s %13s %13s %13s\n" "case (best s)" ucontext switch full floor \
        "switch/uc" "full/uc" "floor/uc"
    for c in $PERF_CASES; do
        measure "perf/$c" "perf_case $U/tests/unit/test-coroutine $c" \
            "perf_case $Q/tests/unit/test-coroutine $c" \
            "perf_case $QF/tests/unit/test-coroutine $c" "perf_case $F_TEST $c"
    done
    for d in 1 64; do
        measure "qemu-img null-co d=$d" "img_bench $U/qemu-img $d" "img_bench $Q/qemu-img $d" \
            "img_bench $QF/qemu-img $d"
    done
    printf "%-22s\n" "CoMutex (best ns per lock+unlock, test-aio-multithread)"
    for c in contended handoff; do
        measure "co-mutex $c" "mutex_case $U/tests/unit/test-aio-multithread $c" \
            "mutex_case $Q/tests/unit/test-aio-multithread $c" \
            "mutex_case $QF/tests/unit/test-aio-multithread $c"
    done
    echo "times: the best of $ROUNDS; ratios: of the bests (of the medians in brackets)."
    echo "switch = QEMU's generic coroutine layer on our switch (QEMUCORO_MODE=switch);"
    echo "full = our whole coroutine API in place of util/qemu-coroutine*.c (QEMUCORO_MODE=full)."
    echo "Goals: switch: perf/yield <= 0.30, perf/cost <= 0.6 of ucontext; full: perf/yield <= 0.20,"
    echo "perf/lifecycle and perf/cost <= 0.25, qemu-img null-co no slower than switch, CoMutex"
    echo "no slower than ucontext's."
    echo "floor = test-coroutine on qemu/bench-floor-backend.c: the bare switch and the TLS"
    echo "store QEMU's contract needs, nothing else; floor/uc is the least any backend can reach."
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
    yield_splits
    yield_instructions
}

main "$@"
