#!/usr/bin/env bash
# make check-aarch64: cross-builds the library (Debian's rustc-web with its
# arm64 std) and the C tests (gcc-aarch64-linux-gnu), then runs them under
# qemu-aarch64 user-mode emulation, less every test that starts a process
# or a thread (both hang under emulation on these machines; the native
# build/c-tests/spawn-watch names them, see c-tests/spawn-watch.c),
# and cross/switch-test.rs: the bare aarch64 switch (crates/switch/src/arch/
# aarch64.rs) on its own, plus gdb-multiarch's backtraces through it.
#   --install   first install the toolchain and emulator with apt (CI)
# QEMU_AARCH64=path picks the emulator (default: qemu-aarch64-static).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=aarch64-unknown-linux-gnu
OUT=build/aarch64
LIB=target/aarch64/$TARGET/release/libqemucoro.a
CC_A64=aarch64-linux-gnu-gcc
NATIVE_LIBS="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
CFLAGS="-O2 -g -Wall -Wextra -Werror -Iinclude -pthread"
QEMU_AARCH64=${QEMU_AARCH64:-qemu-aarch64-static}
# Each run is bounded: a test that hangs under emulation fails the target
# instead of stalling CI.
RUN_TIMEOUT=${RUN_TIMEOUT:-600}

die() { echo "check-aarch64: $*" >&2; exit 1; }

# rustc-web (1.96 in bookworm-security; plain rustc there is 1.63, older
# than our rust-version 1.88) with the arm64 std that matches it exactly.
install_tools() {
    dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        rustc-web cargo-web libstd-rust-web-dev:arm64 \
        gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static gdb-multiarch >/dev/null
}

# Debian's cargo and rustc, not a rustup toolchain earlier in PATH: the
# arm64 std is built for exactly that rustc. Same Cargo.lock, --locked.
build_lib() {
    [ -x /usr/bin/rustc ] && [ -x /usr/bin/cargo ] ||
        die "no /usr/bin/rustc or /usr/bin/cargo (run with --install, or apt-get install rustc-web cargo-web)"
    [ -d /usr/lib/rustlib/$TARGET ] ||
        die "no arm64 std (apt-get install libstd-rust-web-dev:arm64)"
    echo "check-aarch64: $(/usr/bin/rustc --version), $(/usr/bin/cargo --version)"
    RUSTC=/usr/bin/rustc CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=$CC_A64 \
        /usr/bin/cargo build --release --locked --target $TARGET --target-dir target/aarch64
}

build_tests() {
    mkdir -p $OUT
    # shellcheck disable=SC2086
    $CC_A64 $CFLAGS -o $OUT/run c-tests/test-*.c c-tests/harness.c $LIB $NATIVE_LIBS
    # shellcheck disable=SC2086
    $CC_A64 $CFLAGS -o $OUT/stress c-tests/stress.c c-tests/stress-threads.c $LIB $NATIVE_LIBS
    # shellcheck disable=SC2086
    $CC_A64 $CFLAGS -Ic-tests -o $OUT/gdb-target c-tests/gdb-target.c $LIB $NATIVE_LIBS
    /usr/bin/rustc --edition 2021 --target $TARGET -C linker=$CC_A64 -C opt-level=2 -g \
        -o $OUT/switch-test cross/switch-test.rs
}

# qemu_coroutine_yield tail-branches (`b`) into the switch, qemu_coroutine_enter
# calls it (`bl`)
# and leaves with `br`: no `ret` crosses a switch
# (src/coroutine.rs), in both libraries, as `make check-shared` on
# x86_64.
check_tail_branches() {
    tools/check-tail-branches.sh aarch64-linux-gnu-objdump \
        target/aarch64/$TARGET/release/libqemucoro.so $LIB
}

# On these machines (kernel 6.18, Firecracker VM) qemu-aarch64 hangs in a
# guest's clone(), Debian's 7.2 and 10.0.2 built from source alike: a
# pthread_create never returns, and a fork()ed child spins (a plain fork +
# _exit in C does too), so the parent's waitpid never returns. The native
# suite, run with fork() and pthread_create() watched, names the tests
# that call either: "NAME: WHAT" a line.
spawners() {
    [ -x build/c-tests/spawn-watch ] || die "no build/c-tests/spawn-watch (make build/c-tests/spawn-watch)"
    build/c-tests/spawn-watch --list-spawners >$OUT/spawn-watch.log ||
        die "the native suite failed (see $OUT/spawn-watch.log)"
    sed -n 's/^spawns //p' $OUT/spawn-watch.log
}

run_tests() {
    command -v "$QEMU_AARCH64" >/dev/null || die "no $QEMU_AARCH64 (apt-get install qemu-user-static)"
    export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
    aarch64-linux-gnu-readelf -h $OUT/run | grep -q 'Machine: *AArch64' ||
        die "$OUT/run is not an aarch64 program"
    local left_out
    left_out=$(spawners)
    [ -n "$left_out" ] || die "the native suite names no test that forks or creates a thread"
    echo "check-aarch64: left out under emulation ($(echo "$left_out" | wc -l) tests that fork or create threads):"
    echo "$left_out" | sed 's/^/    /'
    # shellcheck disable=SC2046
    timeout -k 5 "$RUN_TIMEOUT" "$QEMU_AARCH64" $OUT/run $(echo "$left_out" | sed 's/:.*//; s/^/--skip /')
    timeout -k 5 "$RUN_TIMEOUT" "$QEMU_AARCH64" $OUT/stress --mode single --rounds 20
    timeout -k 5 "$RUN_TIMEOUT" "$QEMU_AARCH64" $OUT/switch-test
}

# Runs $OUT/PROGRAM under the emulator's gdb stub, stopping where the
# gdb commands on stdin say; the backtrace must name, in this order,
# every function given after the program.
gdb_case() {
    local what=$1 prog=$OUT/$2 port=$((20000 + RANDOM % 20000)) out=$OUT/gdb-$1.log
    shift 2
    cat >$OUT/gdb-$what.cmd
    timeout -k 5 120 "$QEMU_AARCH64" -g $port $prog >/dev/null 2>&1 &
    sleep 1
    timeout -k 5 100 gdb-multiarch -batch -nx -ex "set sysroot $QEMU_LD_PREFIX" \
        -ex "file $prog" -ex "target remote :$port" -x $OUT/gdb-$what.cmd >$out 2>&1 || true
    wait || true
    local frames
    frames=$(grep '^#[0-9]' $out | sed 's/ (.*//; s/.*[ :]//' | tr '\n' ' ')
    for f in "$@"; do
        case " $frames" in
        *" $f "*) frames=${frames#*" $f "} ;;
        *) cat $out; die "gdb: $what: no frame $f (after those before it) in the backtrace" ;;
        esac
    done
    ! grep -E 'Python Exception|Error' $out || { cat $out; die "gdb: $what: errors above"; }
    echo "gdb: $what: backtrace reaches $*"
}

# Inside a running fiber (CFI of qemucoro_fiber_start), and in the switch
# itself right after the stack pointer moved and as it leaves with br (the
# second switch of the first test: the fiber back to its enterer), at
# offsets 60 and 108 of qemucoro_switch (the instruction after `mov sp`,
# and the `br x30`).
gdb_checks() {
    command -v gdb-multiarch >/dev/null || { echo "gdb: no gdb-multiarch, backtraces not checked"; return; }
    gdb_case in-fiber switch-test backtrace_body qemucoro_fiber_start enterer_of_the_fiber main <<'GDB'
break switch_test::backtrace_body
continue
bt
kill
GDB
    for off in 60 108; do
        gdb_case "switch+$off" switch-test qemucoro_switch round_trip_passes_values main <<GDB
set language c
break *((char *)qemucoro_switch + $off)
ignore 1 1
continue
bt
kill
GDB
    done
    # gdb/qemucoro.py's `coroutine bt` on a suspended coroutine (the saved
    # frame read as aarch64.rs lays it out): the function that yielded is
    # frame 0, as yield tail-branches into the switch. (gdb's own `bt` from
    # inside a coroutine, which make check-gdb checks on x86_64, stops at
    # qemucoro_fiber_start here: qemu-aarch64 maps the coroutine stacks
    # above the main stack, and gdb refuses a walk to a lower stack;
    # /unwind/walks-into-enterer checks the same walk with libgcc.)
    # (Without the iothread hangs gdb-target sets up for make check-gdb:
    # threads hang under the emulator.)
    GDB_TARGET_NO_THREADS=1 \
    gdb_case coroutine-bt gdb-target parked_inner parked_outer qemucoro_fiber_start <<'GDB'
source gdb/qemucoro.py
break gdb_stop_here
continue
coroutine list
coroutine bt parked_co
kill
GDB
    local log=$OUT/gdb-coroutine-bt.log
    grep -Eq '^#0 .* parked_inner \(' $log || { cat $log; die "gdb: coroutine bt: frame 0 is not parked_inner"; }
    grep -Eq '^0x[0-9a-f]+ +suspended +stack [0-9]+/[0-9]+ .* entry parked_entry( |$)' $log ||
        { cat $log; die "gdb: coroutine list: no suspended parked_entry"; }
    echo "gdb: coroutine list and coroutine bt right on aarch64 (live)"
}

[ "${1:-}" = --install ] && install_tools
build_lib
check_tail_branches
build_tests
run_tests
gdb_checks
