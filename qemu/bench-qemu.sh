#!/bin/sh
# `make bench-qemu`: the same QEMU tree built twice, with QEMU's ucontext
# backend and with qemucoro, then test-coroutine's perf cases and qemu-img
# bench on null-co run alternately and printed side by side.
#   QEMU_VERSION, QEMU_SRC, QEMU_DL_DIR as for check-qemu.sh
#   BENCH_ROUNDS=3   runs of each case per backend; the best one counts
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

# measure NAME CMD_UCONTEXT CMD_QEMUCORO: alternates the two ROUNDS times,
# keeps each side's best, prints a table row.
measure() {
    name=$1; a_cmd=$2; b_cmd=$3; a=""; b=""
    i=0
    while [ "$i" -lt "$ROUNDS" ]; do
        a="$a $(eval "$a_cmd")"
        b="$b $(eval "$b_cmd")"
        i=$((i + 1))
    done
    # shellcheck disable=SC2086
    a=$(min $a); b=$(min $b)
    [ -n "$a" ] && [ -n "$b" ] || die "no timing for $name"
    awk -v n="$name" -v a="$a" -v b="$b" 'BEGIN {
        printf "%-24s %12.3f %12.3f %9.2fx %9.2fx\n", n, a, b, b / a, a / b }'
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

    log "best of $ROUNDS runs each, alternating; seconds (lower is better)"
    # Other load on the machine skews both sides; say how much there was.
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
    printf "%-24s %12s %12s %10s %10s\n" case ucontext qemucoro "time ratio" speedup
    for c in $PERF_CASES; do
        measure "perf/$c" "perf_case $U/tests/unit/test-coroutine $c" \
            "perf_case $Q/tests/unit/test-coroutine $c"
    done
    for d in 1 64; do
        measure "qemu-img null-co d=$d" "img_bench $U/qemu-img $d" "img_bench $Q/qemu-img $d"
    done
    echo "time ratio = qemucoro/ucontext (goals: perf/yield <= 0.5, perf/cost <= 0.6);"
    echo "speedup = ucontext/qemucoro (goal: qemu-img null-co d=64 >= 1.10)"
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}

main "$@"
