#!/bin/sh
# `make check-gdb`: runs gdb in batch mode on c-tests/gdb-target.c stopped
# in gdb_stop_here(), then on a core dump taken there, and checks that
# `coroutine list` and `coroutine bt` show the states and frames the program
# set up. Usage: gdb/check.sh PROGRAM OUTDIR
set -eu
prog=$1
out=$2
mkdir -p "$out"
rm -f "$out/target.core"

gdb -q -batch -nx -ex 'source gdb/qemucoro.py' -ex 'break gdb_stop_here' \
    -ex run -ex bt -ex 'coroutine list' -ex 'coroutine bt parked_co' \
    -ex "generate-core-file $out/target.core" -ex kill \
    "$prog" >"$out/live.txt" 2>&1
gdb -q -batch -nx -ex 'source gdb/qemucoro.py' \
    -ex bt -ex 'coroutine list' -ex 'coroutine bt parked_co' \
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
    expect "$f" '^0x[0-9a-f]+ +suspended +stack [0-9]+/[0-9]+ .* entry parked_entry$'
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
echo "gdb: coroutine list and coroutine bt right, live and on a core dump"
