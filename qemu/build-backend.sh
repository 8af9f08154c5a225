#!/bin/sh
# Builds the archive a QEMU links in: one pre-linked object whose only global
# definitions are what it replaces. Prints the archive's path.
# QEMUCORO_MODE=full (the default): the whole coroutine API (crates/qemu-full,
# build/qemu-full[-asan|-tsan]/libqemucoro-backend.a), whose global
# definitions are every function util/qemu-coroutine*.c define in the QEMU
# versions of qemu/full-mode/symbols-*.txt, plus the backend's self and
# in_coroutine. QEMUCORO_MODE=switch: the backend under QEMU's generic layer
# (crates/qemu-backend, build/qemu-backend[-asan|-tsan]/), the five
# functions util/qemu-coroutine.c calls.
#   qemu/build-backend.sh        the plain archive (no sanitizer hooks)
#   qemu/build-backend.sh asan   with AddressSanitizer stack-switch
#                                annotations, for a QEMU built --enable-asan
#   qemu/build-backend.sh tsan   with ThreadSanitizer fiber switches and
#                                acquire/release around each switch, for a
#                                QEMU built --enable-tsan
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
case "${1:-}" in
    "") FEATURES= ;;
    asan|tsan) FEATURES=$1 ;;
    *) echo "build-backend: unknown mode '$1' (want nothing, asan or tsan)" >&2; exit 2 ;;
esac
case "${QEMUCORO_MODE:-full}" in
    switch)
        PKG=qemucoro-qemu-backend; BASE=qemu-backend; TAIL=qemu_coroutine_switch
        SYMS="qemu_coroutine_new qemu_coroutine_delete qemu_coroutine_switch qemu_coroutine_self qemu_in_coroutine"
        KEEP=qemucoro_qemu_gdb_layout ;;
    full)
        PKG=qemucoro-qemu-full; BASE=qemu-full; TAIL="enter_begin qemu_coroutine_yield"
        SYMS=$(awk '$1 == "def" || $1 == "backend" { print $4 }' "$ROOT"/qemu/full-mode/symbols-*.txt |
            grep -v -x -e qemu_coroutine_new -e qemu_coroutine_delete -e qemu_coroutine_switch |
            sort -u | xargs)
        KEEP="qemucoro_gdb_layout qemucoro_gdb_lock_layout qemucoro_registry" ;;
    *) echo "build-backend: QEMUCORO_MODE=$QEMUCORO_MODE (want switch or full)" >&2; exit 2 ;;
esac
NAME=$BASE${FEATURES:+-$FEATURES}
OUT=${QEMUCORO_BACKEND_DIR:-$ROOT/build/$NAME}

cd "$ROOT"
# Only the staticlib, compiled for PIE: QEMU links the backend into its
# executables only, and PIE code reaches TLS with the local-exec model (one
# %fs-relative access). RUSTFLAGS, not `cargo rustc -- ...`, so that the
# layer crates below the backend are compiled that way too.
RUSTFLAGS="${RUSTFLAGS:-} -C relocation-model=pie" \
    cargo build --profile qemu --locked --quiet -p "$PKG" --lib \
    --features "$FEATURES" --target-dir "target/$NAME" >&2
mkdir -p "$OUT"
# ld -r pulls from the Rust staticlib only the members the symbols need
# (not all of std); objcopy then makes every other definition local, so the
# object cannot clash with anything QEMU (or another Rust archive) defines.
undef=""
keep=""
for s in $SYMS; do undef="$undef -u $s"; keep="$keep --keep-global-symbol=$s"; done
# (-u also keeps the layout tables gdb/qemucoro.py reads, as locals.)
for s in $KEEP; do undef="$undef -u $s"; done
RUSTLIB="target/$NAME/qemu/lib$(echo "$PKG" | tr - _).a"
# std's panic entry and allocation-error handler, called from core and
# alloc, become the archive's own aborts (util's define_abort_hooks!): then
# nothing reaches std's hooks, and --gc-sections drops them and the
# backtrace printer they use. The names carry the toolchain's hash: read
# them from the archive (readelf, as nm trips over std's embedded bitcode).
wrap=""
for pair in rust_begin_unwind:qemucoro_panic_abort \
            __rust_alloc_error_handler:qemucoro_alloc_abort; do
    sym=$(readelf -sW "$RUSTLIB" | grep -o "_RNvCs[A-Za-z0-9_]*[0-9_]${pair%%:*}\$" | sort -u)
    [ "$(echo "$sym" | grep -c .)" = 1 ] ||
        { echo "build-backend: no single ${pair%%:*} symbol in $RUSTLIB ($sym)" >&2; exit 1; }
    wrap="$wrap --wrap=$sym --defsym=__wrap_$sym=${pair#*:} -u ${pair#*:}"
done
# shellcheck disable=SC2086
ld -r --gc-sections $undef $wrap -o "$OUT/qemucoro-backend.o" "$RUSTLIB"
# shellcheck disable=SC2086
# Embedded LLVM bitcode (from std) is dropped: binutils' LLVM plugin, if
# installed, chokes on bitcode from a newer LLVM when ar/nm read the object.
objcopy $keep --remove-section=.llvmbc --remove-section=.llvmcmd "$OUT/qemucoro-backend.o"
rm -f "$OUT/libqemucoro-backend.a"
ar rcs "$OUT/libqemucoro-backend.a" "$OUT/qemucoro-backend.o"

# No `ret` crosses a switch: the switch is reached by tail jumps.
if [ -z "${1:-}" ]; then
    "$ROOT/tools/check-tail-branches.sh" --want "$TAIL" objdump \
        "$OUT/qemucoro-backend.o" >&2
fi

if nm "$OUT/qemucoro-backend.o" | grep -q backtrace_rs; then
    echo "build-backend: std's backtrace printer is still linked (the panic hooks were not replaced)" >&2
    exit 1
fi
got=$(nm -g --defined-only "$OUT/qemucoro-backend.o" | awk '{print $3}' | sort | tr '\n' ' ')
want=$(echo "$SYMS" | tr ' ' '\n' | sort | tr '\n' ' ')
if [ "$got" != "$want" ]; then
    echo "build-backend: archive exports [$got], expected [$want]" >&2
    exit 1
fi
# A sanitizer archive must really call that sanitizer's fiber-switch
# interface (the runtime comes from QEMU's -fsanitize link); the plain one
# must call neither.
undefs=$(nm -u "$OUT/qemucoro-backend.o")
asan=$(echo "$undefs" | grep -c '__sanitizer_start_switch_fiber' || true)
tsan=$(echo "$undefs" | grep -c '__tsan_switch_to_fiber' || true)
case "$FEATURES:$asan:$tsan" in
    asan:0:*) echo "build-backend: asan archive has no ASan fiber annotations" >&2; exit 1 ;;
    tsan:*:0) echo "build-backend: tsan archive has no TSan fiber switches" >&2; exit 1 ;;
    asan:*:0|tsan:0:*|:0:0) ;;
    *) echo "build-backend: $NAME archive calls another sanitizer's interface" >&2; exit 1 ;;
esac
echo "$OUT/libqemucoro-backend.a"
