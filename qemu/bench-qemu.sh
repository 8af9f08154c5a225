#!/bin/sh
# `make bench-qemu`: the same QEMU tree built twice, with QEMU's ucontext
# backend and with qemucoro, plus test-coroutine relinked a third time on
# the floor backend (qemu/bench-floor-backend.c: the bare switch, the least
# any backend can do); test-coroutine's perf cases on all three and
# qemu-img bench on null-co on the first two run alternately and are printed
# side by side.
#   QEMU_VERSION, QEMU_SRC, QEMU_DL_DIR as for check-qemu.sh
#   BENCH_ROUNDS=3   runs of each case per backend; best and median printed
#   BENCH_REQUESTS=2000000   qemu-img bench requests per run
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

# img_bench QEMU_IMG DEPTH -> seconds for $REQUESTS 4 KiB reads from null-co.
img_bench() {
    "$1" bench -c "$REQUESTS" -d "$2" -s 4096 --image-opts driver=null-co |
        sed -n 's/^Run completed in \([0-9.]*\) seconds.*/\1/p'
}

min() { printf '%s\n' "$@" | sort -g | head -1; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# measure NAME CMD_UCONTEXT CMD_QEMUCORO [CMD_FLOOR]: alternates the
# commands ROUNDS times and prints a row: each side's best, its ratio to
# ucontext's best and, in brackets, the ratio of the medians.
measure() {
    name=$1; u_cmd=$2; q_cmd=$3; f_cmd=${4:-}; u=""; q=""; f=""
    i=0
    while [ "$i" -lt "$ROUNDS" ]; do
        u="$u $(eval "$u_cmd")"
        q="$q $(eval "$q_cmd")"
        [ -z "$f_cmd" ] || f="$f $(eval "$f_cmd")"
        i=$((i + 1))
    done
    # shellcheck disable=SC2086
    set -- "$(min $u)" "$(min $q)" "$(median $u)" "$(median $q)"
    [ -n "$1" ] && [ -n "$2" ] || die "no timing for $name"
    if [ -n "$f_cmd" ]; then
        # shellcheck disable=SC2086
        set -- "$@" "$(min $f)" "$(median $f)"
        [ -n "$5" ] || die "no floor timing for $name"
    fi
    awk -v n="$name" -v u="$1" -v q="$2" -v um="$3" -v qm="$4" -v f="${5:-}" -v fm="${6:-}" 'BEGIN {
        r = sprintf("%.2f (%.2f)", q / u, qm / um)
        if (f == "") printf "%-22s %9.3f %9.3f %9s %13s %13s %8.2fx\n", n, u, q, "-", r, "-", u / q
        else printf "%-22s %9.3f %9.3f %9.3f %13s %13s %8.2fx\n", n, u, q, f, r,
            sprintf("%.2f (%.2f)", f / u, fm / um), u / q }'
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

main() {
    select_version
    log "bench-qemu: QEMU $QV, ucontext vs qemucoro"
    install_system_deps
    select_python
    prepare_source
    build_backend
    U=$WORK/build-$QV-ucontext
    Q=$WORK/build-$QV-qemucoro
    configure_build "$U" ""
    configure_build "$Q" "$LIB"
    for b in "$U" "$Q"; do build_targets "$b" qemu-img tests/unit/test-coroutine; done
    nm "$U/qemu-img" | grep -q coroutine_trampoline || die "$U is not a ucontext build"
    nm "$Q/qemu-img" | grep -q 8qemucoro12qemu_backend || die "$Q is not a qemucoro build"
    build_floor

    log "$ROUNDS runs each, alternating; seconds (lower is better)"
    # Other load on the machine skews all sides; say how much there was.
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
    printf "%-22s %9s %9s %9s %13s %13s %9s\n" "case (best s)" ucontext qemucoro floor \
        "qemucoro/uc" "floor/uc" speedup
    for c in $PERF_CASES; do
        measure "perf/$c" "perf_case $U/tests/unit/test-coroutine $c" \
            "perf_case $Q/tests/unit/test-coroutine $c" "perf_case $F_TEST $c"
    done
    for d in 1 64; do
        measure "qemu-img null-co d=$d" "img_bench $U/qemu-img $d" "img_bench $Q/qemu-img $d"
    done
    echo "times: the best of $ROUNDS; ratios: of the bests (of the medians in brackets);"
    echo "speedup = ucontext/qemucoro of the bests."
    echo "Goals: perf/yield qemucoro/uc <= 0.30, perf/cost <= 0.6, qemu-img null-co d=64 speedup >= 1.10."
    echo "floor = test-coroutine on qemu/bench-floor-backend.c: the bare switch and the TLS"
    echo "store QEMU's contract needs, nothing else; floor/uc is the least any backend can reach."
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}

main "$@"
