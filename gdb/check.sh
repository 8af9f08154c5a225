#!/bin/sh
# `make check-gdb`: runs gdb in batch mode on c-tests/gdb-target.c stopped
# in gdb_stop_here(), then on a core dump taken there, and checks that
# `coroutine list` and `coroutine bt` show the states and frames the program
# set up, and that `coroutine list`, `coroutine deadlocks` and `coroutine
# dump` name its hangs in the words of its own qemucoro_dump() (written to
# OUTDIR/program-dump.txt before it stops). Usage: gdb/check.sh PROGRAM OUTDIR
set -eu
prog=$1
out=$2
mkdir -p "$out"
rm -f "$out/target.core" "$out/program-dump.txt"

gdb -q -batch -nx -ex 'source gdb/qemucoro.py' -ex 'break gdb_stop_here' \
    -ex "set environment GDB_TARGET_DUMP=$out/program-dump.txt" \
    -ex run -ex bt -ex 'coroutine list' -ex 'coroutine bt parked_co' \
    -ex 'coroutine deadlocks' -ex 'coroutine dump' \
    -ex "generate-core-file $out/target.core" -ex kill \
    "$prog" >"$out/live.txt" 2>&1
gdb -q -batch -nx -ex 'source gdb/qemucoro.py' \
    -ex bt -ex 'coroutine list' -ex 'coroutine bt parked_co' \
    -ex 'coroutine deadlocks' -ex 'coroutine dump' \
    "$prog" "$out/target.core" >"$out/core.txt" 2>&1
rm -f "$out/target.core"

fail=0
expect() {    # expect FILE REGEX: a line of FILE matches REGEX
    if ! grep -Eq "$2" "$1"; then
        echo "check-gdb: $1 has no line matching: $2"
        fail=1
    fi
}
line_of() {   # first line number of FILE matching REGEX
    grep -En "$2" "$1" | head -n 1 | cut -d: -f1
}
for f in "$out/live.txt" "$out/core.txt"; do
    expect "$f" '^0x[0-9a-f]+ +running in thread 1 .* entry inner_entry$'
    expect "$f" '^0x[0-9a-f]+ +entered .* entry outer_entry$'
    expect "$f" '^0x[0-9a-f]+ +suspended +stack [0-9]+/[0-9]+ .* entry parked_entry  '
    expect "$f" '^0x[0-9a-f]+ +pooled '
    # gdb's own bt, from inside inner_co: through the unwind info of each
    # stack's first frame into its enterer (outer_co, then main's stack).
    expect "$f" '^#[0-9]+ .* in qemu_coroutine_enter \('
    expect "$f" '^#[0-9]+ .* in main \(.*gdb-target.c'
    # A suspended coroutine: the function that yielded is frame 0 (yield
    # tail-jumps into the switch), and the walk ends at the stack's start.
    expect "$f" '^#0 .*parked_inner \(\) at c-tests/gdb-target.c:[0-9]+$'
    expect "$f" '^#[0-9]+ .*qemucoro_fiber_start'
    expect "$f" '^#[0-9]+ .*parked_inner \(\) at c-tests/gdb-target.c:[0-9]+$'
    expect "$f" '^#[0-9]+ .*parked_outer \(\) at c-tests/gdb-target.c:[0-9]+$'
    # The hangs, in `coroutine list` (a wait column on suspended ones) ...
    expect "$f" '^0x[0-9a-f]+ +suspended .* entry lock_m1_then_m2  \[thread [0-9]+, ctx 0x[0-9a-f]+\] waits [0-9.]+ s for CoMutex 0x[0-9a-f]+ held by 0x[0-9a-f]+ \(entry lock_m2_then_m1\)$'
    expect "$f" '^0x[0-9a-f]+ +suspended .* entry lock_then_write .* for CoRwlock 0x[0-9a-f]+ \(write\) held by reader 0x[0-9a-f]+ \(entry read_then_lock\)$'
    expect "$f" '^0x[0-9a-f]+ +suspended .* entry sleep_10s .* sleeps [0-9.]+ s, 9\.[0-9]+ s left'
    expect "$f" '^0x[0-9a-f]+ +suspended .* entry wait_readable .* for fd [0-9]+ to be readable'
    expect "$f" '^0x[0-9a-f]+ +suspended .* entry parked_entry .* yielded [0-9.]+ s ago, entered last by 0x[0-9a-f]+ \(thread code\)'
    # ... and in `coroutine deadlocks`: both cycles and the orphan.
    expect "$f" '^deadlock: coroutine 0x[0-9a-f]+ \(entry lock_m[12]_then_m[12], thread [0-9]+\) waits for CoMutex 0x[0-9a-f]+ held by 0x[0-9a-f]+; coroutine 0x[0-9a-f]+ \(entry lock_m[12]_then_m[12], thread [0-9]+\) waits for CoMutex 0x[0-9a-f]+ held by 0x[0-9a-f]+$'
    expect "$f" '^deadlock: .*waits for CoRwlock 0x[0-9a-f]+ \(write\) held by 0x[0-9a-f]+ \(reader\)'
    expect "$f" '^orphan: coroutine 0x[0-9a-f]+ \(entry wait_for_orphan, thread [0-9]+\) waits for CoMutex 0x[0-9a-f]+ held by 0x[0-9a-f]+, thread code \(not a coroutine\)$'
    expect "$f" '^qemucoro dump: 2 deadlock cycle\(s\)$'
    # The program's own dump, line for line but for the ages: gdb's
    # `coroutine dump` must hold every line of it.
    if [ ! -s "$out/program-dump.txt" ]; then
        echo "check-gdb: the program wrote no dump"
        fail=1
    fi
    ages='s/[0-9]+\.[0-9]{3} s/T s/g'
    sed -E "$ages" "$f" >"$f.masked"
    grep -E '^(coroutine 0x|deadlock:|orphan:)' "$out/program-dump.txt" | sed -E "$ages" |
    while IFS= read -r want; do
        if ! grep -Fxq -- "$want" "$f.masked"; then
            echo "check-gdb: $f lacks the program's dump line: $want"
            echo x >>"$out/mismatch"
        fi
    done
    if [ -e "$out/mismatch" ]; then
        rm -f "$out/mismatch"
        fail=1
    fi
    rm -f "$f.masked"
    if grep -Eq 'Python Exception|Error' "$f"; then
        echo "check-gdb: errors in $f"
        fail=1
    fi
    inner=$(line_of "$f" 'parked_inner \(\)')
    outer=$(line_of "$f" 'parked_outer \(\)')
    if [ -n "$inner" ] && [ -n "$outer" ] && [ "$inner" -gt "$outer" ]; then
        echo "check-gdb: frames out of order in $f"
        fail=1
    fi
done
if [ $fail -ne 0 ]; then
    cat "$out/live.txt" "$out/core.txt"
    exit 1
fi
echo "gdb: coroutine list, bt, deadlocks and dump right, live and on a core dump"
