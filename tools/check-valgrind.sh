#!/bin/sh
# `make check-valgrind`: every C test under memcheck, with no errors and no
# definite leaks, in the parent or in any forked or exec'd child (each
# writes its own log in build/valgrind/), and no "client switching stacks?"
# warning (what a coroutine stack not registered with Valgrind causes:
# crates/switch/src/stack/valgrind.rs).
#
# Left out: /stack/100000-live and /stack/mapping-budget-counts-own-mappings
# (Valgrind's own table of mappings, VG_N_SEGMENTS, is smaller than they
# need); /stack/slab-overflow-aborts (overruns a slab stack on purpose);
# /stack/map-failure-aborts (limits the address space, Valgrind's own too);
# /pool/burst-gives-back-stack-pages (memcheck's shadow of the given-back
# pages stays resident); /fork/ (Valgrind runs one thread at a time, so 20
# forks beside a thread spinning on qemucoro_get_stats outlast the test's
# alarm). The writes that fault on purpose (signal chaining, dlclose) are
# suppressed by function name (c-tests/valgrind-intended-faults.supp).
#   Usage: tools/check-valgrind.sh RUN OVERFLOW DLCLOSE STRESS
set -eu
RUN=$1 OVERFLOW=$2 DLCLOSE=$3 STRESS=$4
LOGS=build/valgrind
vg() {
    log=$1; shift
    echo "valgrind $*"
    valgrind --error-exitcode=1 --errors-for-leak-kinds=definite \
        --leak-check=full --show-leak-kinds=definite --trace-children=yes \
        --suppressions=c-tests/valgrind-intended-faults.supp \
        --log-file=$LOGS/$log.%p.log "$@"
}

rm -rf $LOGS && mkdir -p $LOGS
vg run "$RUN" --skip /stack/100000-live --skip /stack/slab-overflow-aborts \
    --skip /stack/map-failure-aborts --skip /stack/rlimit-as/ \
    --skip /stack/mapping-budget-counts-own-mappings \
    --skip /pool/burst-gives-back-stack-pages --skip /fork/
for t in reported nested c-thread chain/ report-while-loader-locked; do
    vg overflow "$OVERFLOW" /overflow/$t
done
vg dlclose "$DLCLOSE"
vg stress "$STRESS" --ops 5000
if grep -L 'ERROR SUMMARY: 0 errors' $LOGS/*.log | grep .; then
    echo "valgrind: errors above (see the logs named)"; exit 1
fi
if grep -l 'client switching stacks' $LOGS/*.log; then
    echo "valgrind: a stack switch Valgrind was not told about (logs above)"; exit 1
fi
echo "valgrind: $(ls $LOGS | wc -l) processes, 0 errors, no definite leaks"
