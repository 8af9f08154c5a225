#!/bin/sh
# `make check-qemu-full`: QEMU 10.0.2 (or QEMU_VERSION=7.2; x86_64-softmmu
# and tools, lean) built twice from the same patched tree, with the qemucoro
# backend and with QEMU's own ucontext one (ccache makes the second build
# cheap: only the coroutine backend differs), then QEMU's own suites on
# both: check-unit, check-block and the iotests `quick` group for qcow2,
# raw and nbd. Prints pass/fail/skip
# per suite and backend. A test that fails on both backends is reported as
# environmental (named, never hidden); one that fails only with qemucoro is
# run once more, and fails the target if it fails again. QEMUCORO_MODE=full
# builds the qemucoro tree in full mode (build/qemu/full-$QV-qemucoro-full,
# results in build/qemu/full-results-$QV-full); the ucontext tree is shared.
#   check-qemu-full.sh [SUITE...]   default: unit block qcow2 raw nbd
#   check-qemu-full.sh --build-only builds both trees, runs nothing
#   QEMU_DL_DIR=dir                 look here for the orig tarball first
#   JOBS=n                          parallel compile jobs (default: nproc)
set -eu
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/full-suites.sh"

# Everything compiled goes through ccache, whose cache lives in the build
# tree (a fresh CI clone has none); the base dir and no-hash-dir settings let
# the ucontext tree hit what the qemucoro tree stored.
export CCACHE_DIR="$WORK/ccache" CCACHE_BASEDIR="$WORK" CCACHE_NOHASHDIR=1
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-4G}

FULL_DEPS="ccache libpixman-1-dev libfdt-dev seabios ipxe-qemu socat libaio-dev bzip2"

install_full_deps() {
    install_system_deps
    missing=""
    for p in $FULL_DEPS; do
        dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    log "installing:$missing"
    as_root apt-get update -q
    # shellcheck disable=SC2086
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
}

# configure_full BUILD_DIR LIB: the lean system build, LIB as in
# configure_build (empty: ucontext). Compilers are ccache's wrappers.
configure_full() {
    _b=$1; _lib=$2
    if [ ! -f "$_b/build.ninja" ]; then
        rm -rf "$_b"; mkdir -p "$_b"
        (cd "$_b" && PATH="/usr/lib/ccache:$(dirname "$PY"):$PATH" "$SRC/configure" \
            "$(configure_args)" --target-list=x86_64-softmmu --disable-user \
            --enable-tools --disable-docs --disable-gtk --disable-sdl \
            --disable-opengl --disable-spice --disable-vnc --disable-werror \
            --disable-install-blobs --audio-drv-list= \
            >configure.log 2>&1) || {
            tail -30 "$_b/configure.log"; die "configure failed, see $_b/configure.log"; }
    fi
    "$(tree_meson "$_b")" configure "$_b" "-Dqemucoro_lib=$_lib" "-Dqemucoro_mode=$MODE" >/dev/null
}

# build_full BUILD_DIR: what the suites run. check-block and the iotests
# need `all` (qemu-system-x86_64 is most of the build); the unit suite needs
# only its test executables and what they link, a small part of it.
build_full() {
    _b=$1
    set --
    case " $SUITES " in *" unit "*)
        # shellcheck disable=SC2046
        set -- $(unit_targets "$_b") ;;
    esac
    [ "$SUITES" = unit ] || set -- "$@" all
    PATH="/usr/lib/ccache:$PATH" ninja -C "$_b" -j "$JOBS" "$@" >"$_b/build.log" 2>&1 ||
        { tail -40 "$_b/build.log"; die "build failed, see $_b/build.log"; }
}

# The unit suite's executables and what they depend on, as ninja targets
# of BUILD_DIR (meson's own record of the tests and targets).
unit_targets() {
    _m=$(tree_meson "$1")
    { "$_m" introspect --tests "$1"; echo; "$_m" introspect --targets "$1"; } | python3 -c '
import json, os, sys
tests, targets = (json.loads(part) for part in sys.stdin.read().split("\n\n", 1))
files = {t["id"]: t["filename"] for t in targets}
unit = [t for t in tests if "qemu:unit" in t["suite"]]
want = {t["cmd"][0] for t in unit} | {f for t in unit for d in t["depends"] for f in files.get(d, [])}
build = os.path.realpath(sys.argv[1])
rel = {os.path.relpath(os.path.realpath(f), build) for f in want}
print(" ".join(sorted(r for r in rel if not r.startswith(("..", "pyvenv")))))' "$1"
}

# The option ROMs and BIOS images a pc machine loads, where the build tree's
# QEMU looks for them: seabios and ipxe-qemu's files, plus the few of
# qemu-system-data's (kvmvapic.bin, linuxboot*.bin, ...) that Debian's +ds
# tarball cannot rebuild without a cross toolchain. The .deb is unpacked,
# never installed.
install_firmware() {
    _dst=$1/qemu-bundle/usr/local/share/qemu
    mkdir -p "$_dst"
    for f in /usr/share/seabios/*.bin /usr/lib/ipxe/qemu/*.rom; do
        ln -sf "$f" "$_dst/"
    done
    _data=$WORK/dl/qemu-system-data
    if [ ! -f "$_data/.unpacked" ]; then
        rm -rf "$_data"; mkdir -p "$_data"
        (cd "$WORK/dl" && rm -f qemu-system-data_*.deb && apt-get download -q qemu-system-data) ||
            die "apt-get download qemu-system-data failed"
        dpkg-deb -x "$WORK"/dl/qemu-system-data_*.deb "$_data"
        touch "$_data/.unpacked"
    fi
    for f in kvmvapic.bin linuxboot.bin linuxboot_dma.bin multiboot.bin \
             multiboot_dma.bin pvh.bin; do
        [ -f "$_data/usr/share/qemu/$f" ] && ln -sf "$_data/usr/share/qemu/$f" "$_dst/"
    done
    [ -e "$_dst/kvmvapic.bin" ] || die "no kvmvapic.bin in qemu-system-data"
}

build_both() {
    BQ=$WORK/full-$QV-qemucoro$MODE_SUFFIX
    BU=$WORK/full-$QV-ucontext
    timed configure configure_full "$BQ" "$LIB"
    ccache -z >/dev/null
    timed build-qemucoro build_full "$BQ"
    timed configure-uc configure_full "$BU" ""
    ccache -z >/dev/null
    timed build-ucontext build_full "$BU"
    echo "ucontext tree: $(ccache --print-stats | awk -F'\t' '$1=="direct_cache_hit"||$1=="preprocessed_cache_hit"{h+=$2} $1=="cache_miss"{m=$2} END{print h+0 " ccache hits, " m+0 " misses"}')"
    if [ "$SUITES" != unit ]; then
        install_firmware "$BQ"
        install_firmware "$BU"
    fi
}

main() {
    t_start=$(now)
    only_build=""
    if [ "${1:-}" = "--build-only" ]; then only_build=1; shift; fi
    SUITES=${*:-unit block qcow2 raw nbd}
    select_version
    log "QEMU $QV full (x86_64-softmmu + tools): qemucoro ($MODE mode) and ucontext"
    timed deps install_full_deps
    select_python
    timed source prepare_source
    timed backend build_backend
    build_both
    if [ -z "$only_build" ]; then
        # shellcheck disable=SC2086
        run_suites $SUITES
    fi
    printf "%b" "$TIMES" | awk '{printf "  %-16s %s\n", $1, $2}'
    echo "  total            $(( $(now) - t_start ))s"
    [ -n "$only_build" ] || verdict
}

main "$@"
