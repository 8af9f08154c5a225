#!/bin/sh
# `make check-asan`: the C tests built with -fsanitize=address on the
# ASan-annotated archive (build/asan/). Every test must run with no ASan
# report at all (not even ASan's warning that it cannot tell which stack it
# is on), but the one that limits the address space, which ASan's shadow
# memory cannot live with. The overflow and dlclose runners go with
# handle_segv=0 (their default-SIGSEGV cases want no ASan handler before
# ours). Then a real bug on a coroutine stack, a use-after-free, must still
# be reported, naming the function.
set -eu
B=build/asan
run() { echo "$*"; "$@"; }

echo "ASAN_OPTIONS=detect_leaks=1 $B/run --skip /stack/map-failure-aborts --skip /stack/rlimit-as/"
ASAN_OPTIONS=detect_leaks=1 $B/run --skip /stack/map-failure-aborts --skip /stack/rlimit-as/ 2>$B/run.log ||
    { cat $B/run.log; exit 1; }
if grep -E 'ASan|AddressSanitizer' $B/run.log; then
    echo "asan: reports above"; exit 1
fi
run env ASAN_OPTIONS=handle_segv=0 $B/overflow
run env ASAN_OPTIONS=handle_segv=0 $B/dlclose
run $B/stress --ops 20000
if $B/use-after-free 2>$B/uaf.log; then
    echo "ASan missed a use-after-free inside a coroutine"; exit 1
fi
grep -q 'heap-use-after-free' $B/uaf.log &&
    grep -q 'in use_after_free .*asan-use-after-free.c' $B/uaf.log ||
    { cat $B/uaf.log; echo "ASan did not report the use-after-free"; exit 1; }
echo "asan: C tests clean; use-after-free inside a coroutine reported"
