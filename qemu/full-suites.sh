# Sourced by check-qemu-full.sh: runs QEMU's suites on the qemucoro tree ($BQ)
# and the ucontext tree ($BU), one suite at a time on each, and compares
# them with full-results.py. Suites: unit (make check-unit), block (make
# check-block), qcow2, raw, nbd (the iotests `quick` group for that format or
# protocol). Results go to $RESULTS (default build/qemu/full-results-<QEMU
# version><mode suffix>)/<backend>/<suite>.txt.

FR="python3 $ROOT/qemu/full-results.py"

# run_meson_suite BUILD OUTFILE TARGET: QEMU's own make target; its exit
# status is not ours to judge, the per-test log is.
run_meson_suite() {
    rm -f "$1/meson-logs/testlog.json"
    make -C "$1" -j "$JOBS" "$3" >"$2.log" 2>&1 || true
    [ -f "$1/meson-logs/testlog.json" ] || { tail -20 "$2.log"; die "make $3 left no test log"; }
    cp "$1/meson-logs/testlog.json" "$2.json"
    $FR meson "$2.json" "$2"
}

# run_iotests BUILD OUTFILE FORMAT-OPTION [TEST...]
run_iotests() {
    _b=$1; _out=$2; _fmt=$3; shift 3
    [ $# -gt 0 ] || set -- -g quick
    _py=$(tree_python "$_b")
    (cd "$_b/tests/qemu-iotests" &&
        "$_py" ./check --color off -tap -j "$JOBS" "$_fmt" "$@") \
        >"$_out.log" 2>&1 || true
    $FR tap "$_out.log" "$_out"
}

# run_suite SUITE BUILD OUTFILE [TEST...] (tests: only for a rerun)
run_suite() {
    _s=$1; _b=$2; _o=$3; shift 3
    case $_s in
        unit|block)
            if [ $# -gt 0 ]; then
                "$(tree_meson "$_b")" test -C "$_b" --no-rebuild --suite "$_s" "$@" \
                    >"$_o.log" 2>&1 || true
                $FR meson "$_b/meson-logs/testlog.json" "$_o"
            else
                run_meson_suite "$_b" "$_o" "check-$_s"
            fi ;;
        qcow2|raw|nbd) run_iotests "$_b" "$_o" "-$_s" "$@" ;;
        *) die "unknown suite $_s (want unit block qcow2 raw nbd)" ;;
    esac
}

run_suites() {
    RESULTS=${RESULTS:-$WORK/full-results-$QV$MODE_SUFFIX}
    rm -rf "$RESULTS"; mkdir -p "$RESULTS/qemucoro" "$RESULTS/ucontext"
    SUITES=$*
    for s in $SUITES; do
        log "suite $s: qemucoro, then ucontext"
        timed "$s-qemucoro" run_suite "$s" "$BQ" "$RESULTS/qemucoro/$s.txt"
        timed "$s-ucontext" run_suite "$s" "$BU" "$RESULTS/ucontext/$s.txt"
    done
    rerun_ours_only
}

# A test that failed with qemucoro but not with ucontext runs once more with
# qemucoro (the harness races named in docs/qemu-backend.md strike either
# backend at random). The report names every such test and what the rerun
# gave; a second failure fails the target.
rerun_ours_only() {
    # shellcheck disable=SC2086
    $FR only-ours "$RESULTS" $SUITES | while read -r s t; do
        log "rerun with qemucoro: $s $t"
        run_suite "$s" "$BQ" "$RESULTS/rerun-one.txt" "$t"
        echo "$s $t $(awk -v t="$t" '$1 == t {print $2}' "$RESULTS/rerun-one.txt")" \
            >>"$RESULTS/rerun.txt"
    done
}

verdict() {
    log "QEMU's suites, qemucoro against ucontext (logs: $RESULTS)"
    # shellcheck disable=SC2086
    if $FR report "$RESULTS" $SUITES; then
        echo "check-qemu-full PASSED: no test fails with qemucoro that passes with ucontext"
    else
        die "check-qemu-full FAILED: tests above fail only with qemucoro"
    fi
}
