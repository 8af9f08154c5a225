# Shared steps for check-qemu.sh and bench-qemu.sh: pick a QEMU version,
# install build deps, fetch/extract Debian's source, add the backend choice,
# configure and build. Sourced, not run. All state lives under build/qemu/.

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${QEMUCORO_QEMU_WORK:-$ROOT/build/qemu}
JOBS=${JOBS:-$(nproc)}
# QEMUCORO_MODE=full (the default: our whole coroutine API in place of
# util/qemu-coroutine*.c) or switch (our switch under QEMU's generic
# coroutine layer).
MODE=${QEMUCORO_MODE:-full}
case $MODE in
    switch) MODE_SUFFIX= ;;
    full) MODE_SUFFIX=-full ;;
    *) printf 'qemu: error: QEMUCORO_MODE=%s (want switch or full)\n' "$MODE" >&2; exit 1 ;;
esac
export QEMUCORO_MODE=$MODE

# mode_mark MODE: what shows a mode's archive in a binary's symbol table
# (the Rust crates' local symbols keep their mangled names).
mode_mark() {
    case $1 in
        switch) echo 21qemucoro_qemu_backend ;;
        full) echo 13qemucoro_capi ;;
    esac
}

# built_with BIN MODE: whether BIN carries that mode's archive.
built_with() { nm "$1" | grep -q "$(mode_mark "$2")"; }

log() { printf '\n=== %s\n' "$*"; }
die() { printf 'qemu: error: %s\n' "$*" >&2; exit 1; }
now() { date +%s; }
# The least and the median of numbers, for the scripts that time runs.
min() { printf '%s\n' "$@" | sort -g | head -1; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Records "label seconds" for the summary table.
TIMES=""
timed() { _label=$1; shift; _t0=$(now); "$@"; TIMES="$TIMES$_label $(( $(now) - _t0 ))s\n"; }

# QEMU_VERSION -> Debian package version, orig tarball and top directory.
# With QEMU_SRC (and no QEMU_VERSION) the tree's VERSION file decides.
select_version() {
    if [ -n "${QEMU_SRC:-}" ] && [ -z "${QEMU_VERSION:-}" ]; then
        [ -f "$QEMU_SRC/VERSION" ] || die "QEMU_SRC=$QEMU_SRC has no VERSION file"
        QV=$(cat "$QEMU_SRC/VERSION")
        return
    fi
    case "${QEMU_VERSION:-10.0.2}" in
        10|10.0|10.0.2)
            QV=10.0.2
            DEB_VERSION='1:10.0.2+ds-2+deb13u1~bpo12+1'
            TARBALL=qemu_10.0.2+ds.orig.tar.xz
            TOPDIR=qemu-10.0.2 ;;
        7|7.2|7.2.0)
            QV=7.2
            DEB_VERSION='1:7.2+dfsg-7+deb12u18'
            TARBALL=qemu_7.2+dfsg.orig.tar.xz
            TOPDIR=qemu-7.2.0 ;;
        *) die "QEMU_VERSION=$QEMU_VERSION: supported are 10.0.2 and 7.2" ;;
    esac
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# apt packages QEMU's minimal build needs, installed only if missing.
install_system_deps() {
    missing=""
    command -v ninja >/dev/null || missing="$missing ninja-build"
    command -v flex >/dev/null || missing="$missing flex"
    command -v bison >/dev/null || missing="$missing bison"
    command -v pkg-config >/dev/null || missing="$missing pkg-config"
    pkg-config --exists glib-2.0 2>/dev/null || missing="$missing libglib2.0-dev"
    pkg-config --exists zlib 2>/dev/null || missing="$missing zlib1g-dev"
    command -v python3 >/dev/null || missing="$missing python3"
    python3 -c 'import venv, ensurepip' 2>/dev/null || missing="$missing python3-venv"
    [ -z "$missing" ] && return 0
    log "installing:$missing"
    as_root apt-get update -q
    # shellcheck disable=SC2086
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
}

# Sets PY to a python that has meson>=1.5 and pycotap (QEMU's configure and
# `meson test` need both); makes a venv under build/ if the system's lacks them.
select_python() {
    if python3 - <<'EOF' 2>/dev/null
import pycotap, mesonbuild.coredata as c
v = tuple(int(x) for x in c.version.split('.')[:2])
raise SystemExit(0 if v >= (1, 5) else 1)
EOF
    then
        PY=$(python3 -c 'import sys; print(sys.executable)')
        return
    fi
    if [ ! -x "$WORK/venv/bin/python3" ]; then
        log "making $WORK/venv with meson>=1.5 and pycotap (PyPI)"
        python3 -m venv "$WORK/venv"
    fi
    "$WORK/venv/bin/python3" -m pip install -q 'meson>=1.5' pycotap
    PY=$WORK/venv/bin/python3
}

# Downloads Debian's orig tarball for QEMU into $WORK/dl (kept across runs).
# Only the orig tarball matters; for 10.0.2 the .dsc is gone from the archive
# so apt exits non-zero even though the tarball arrived: judge by the file.
fetch_source() {
    mkdir -p "$WORK/dl"
    [ -f "$WORK/dl/$TARBALL" ] && return 0
    if [ -n "${QEMU_DL_DIR:-}" ] && [ -f "$QEMU_DL_DIR/$TARBALL" ]; then
        cp "$QEMU_DL_DIR/$TARBALL" "$WORK/dl/"
        return 0
    fi
    log "fetching Debian source qemu=$DEB_VERSION"
    apt_source
    if [ ! -f "$WORK/dl/$TARBALL" ]; then
        # No deb-src line for this version, or apt's lists predate it.
        [ -f /etc/apt/sources.list.d/qemucoro-deb-src.sources ] || add_deb_src
        as_root apt-get update -q
        apt_source
    fi
    [ -f "$WORK/dl/$TARBALL" ] || die "apt-get source did not deliver $TARBALL (is deb-src for bookworm and bookworm-backports configured?)"
    echo "got $TARBALL (only the orig tarball is used; apt errors about the .dsc or .debian.tar.xz do not matter)"
}

apt_source() {
    (cd "$WORK/dl" && apt-get source --download-only "qemu=$DEB_VERSION") || true
}

# A fresh bookworm machine has no deb-src lines; add them (bookworm-backports
# carries 10.0.2).
add_deb_src() {
    log "adding deb-src for bookworm, bookworm-updates, bookworm-backports"
    as_root sh -c 'cat > /etc/apt/sources.list.d/qemucoro-deb-src.sources <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF'
}

# Sets SRC: QEMU_SRC if given (patched in place; the patch is opt-in and
# idempotent), else the tarball extracted once under $WORK/src.
prepare_source() {
    if [ -n "${QEMU_SRC:-}" ]; then
        SRC=$(cd "$QEMU_SRC" && pwd)
    else
        fetch_source
        SRC=$WORK/src/$TOPDIR
        if [ ! -f "$SRC/.qemucoro-extracted" ]; then
            log "extracting $TARBALL"
            rm -rf "$SRC"; mkdir -p "$WORK/src"
            tar -C "$WORK/src" -xf "$WORK/dl/$TARBALL"
            touch "$SRC/.qemucoro-extracted"
        fi
    fi
    "$PY" "$ROOT/qemu/apply-backend.py" "$SRC"
}

# QEMU before 8.1 has no configure-made venv: it refuses --python with an
# external meson and wants --meson instead.
legacy_configure() {
    case $QV in [1-7].*|8.0*) return 0 ;; *) return 1 ;; esac
}

# configure_args: what tells QEMU's configure the python (and meson) to use.
# 10.x takes the python to build its venv from; 7.2 refuses --python with an
# external meson, so it gets --meson (and the python on PATH).
configure_args() {
    if legacy_configure; then echo "--meson=$(dirname "$PY")/meson"; else echo "--python=$PY"; fi
}

# tree_meson BUILD_DIR / tree_python BUILD_DIR: the meson and python a tree
# was configured with (10.x: the venv configure made; 7.2: ours).
tree_meson() { if [ -x "$1/pyvenv/bin/meson" ]; then echo "$1/pyvenv/bin/meson"; else echo "$(dirname "$PY")/meson"; fi; }
tree_python() { if [ -x "$1/pyvenv/bin/python3" ]; then echo "$1/pyvenv/bin/python3"; else echo "$PY"; fi; }

# configure_build BUILD_DIR LIB: a minimal tools-only build in BUILD_DIR,
# with the qemucoro backend archive LIB, or QEMU's ucontext backend if LIB
# is empty. Re-running only refreshes the option. CONFIGURE_EXTRA adds
# configure options (check-qemu --asan: --enable-asan).
configure_build() {
    _b=$1; _lib=$2
    if [ ! -f "$_b/build.ninja" ]; then
        rm -rf "$_b"; mkdir -p "$_b"
        set -- --without-default-features --enable-tools --disable-system \
            --disable-user --disable-install-blobs --disable-docs
        # shellcheck disable=SC2086
        set -- "$@" ${CONFIGURE_EXTRA:-}
        set -- "$@" "$(configure_args)"
        (cd "$_b" && PATH="$(dirname "$PY"):$PATH" "$SRC/configure" "$@" >configure.log 2>&1) || {
            tail -30 "$_b/configure.log"; die "configure failed, see $_b/configure.log"; }
    fi
    "$(tree_meson "$_b")" configure "$_b" "-Dqemucoro_lib=$_lib" "-Dqemucoro_mode=$MODE" >/dev/null
}

# The backend archive, built fresh (cargo is incremental), as a copy named
# by its content: meson links it through link_args, which ninja does not
# track as an input, but a new name changes every link command and ninja
# relinks what a changed command makes. So no binary keeps an old backend.
# BACKEND_MODE (empty, asan or tsan) is build-backend.sh's argument.
build_backend() {
    # shellcheck disable=SC2086
    LIB=$("$ROOT/qemu/build-backend.sh" ${BACKEND_MODE:-}) || die "building the backend archive failed"
    _named=${LIB%.a}-$(sha256sum "$LIB" | cut -c1-12).a
    if [ ! -f "$_named" ]; then
        rm -f "${LIB%.a}"-*.a
        cp "$LIB" "$_named"
    fi
    LIB=$_named
}

# configure_mode_trees: the same QEMU configured three times, with fresh
# archives: U on ucontext, Q in switch mode, QF in full mode (for the
# scripts that compare the modes; QEMUCORO_MODE does not matter to them).
configure_mode_trees() {
    U=$WORK/build-$QV-ucontext
    Q=$WORK/build-$QV-qemucoro
    QF=$WORK/build-$QV-qemucoro-full
    _mode=$MODE
    for MODE in switch full; do
        QEMUCORO_MODE=$MODE
        build_backend
        if [ "$MODE" = full ]; then configure_build "$QF" "$LIB"; else configure_build "$Q" "$LIB"; fi
    done
    MODE=$_mode; QEMUCORO_MODE=$_mode
    configure_build "$U" ""
}

# build_targets BUILD_DIR TARGET...
build_targets() {
    _b=$1; shift
    ninja -C "$_b" -j "$JOBS" "$@" >"$_b/ninja.log" 2>&1 || {
        tail -40 "$_b/ninja.log"; die "ninja failed, see $_b/ninja.log"; }
}

# util_libs TREE [LIB]: what links a program as QEMU's unit tests are
# linked: TREE's libqemuutil.a, the QOM objects its thread-context and
# main-loop objects need (libqom.fa's in 7.2), and the backend archive LIB
# if given (else QEMU's own coroutine code in libqemuutil.a serves).
util_libs() {
    _qom=$(ls "$1"/libqom.a.p/*.o "$1"/libqom.fa.p/*.o "$1"/libevent-loop-base.a.p/*.o 2>/dev/null || true)
    # shellcheck disable=SC2086
    echo $_qom -Wl,--start-group "$1/libqemuutil.a" ${2:-} -Wl,--end-group \
        "$(pkg-config --libs glib-2.0 gthread-2.0)" -lm -lz -lrt -pthread
}

# ucontext_util_tree: sets U to the current version's ucontext tree with
# its util code built (libqemuutil, the generic coroutine layer, AioContext),
# the oracle QEMU's own code is checked against.
ucontext_util_tree() {
    U=$WORK/build-$QV-ucontext
    configure_build "$U" ""
    log "building QEMU $QV's util code and ucontext coroutines (no-op when built)"
    build_targets "$U" tests/unit/test-coroutine
}

# Sets U as ucontext_util_tree does, from scratch, and UTIL_LIBS to what
# links a program against it. make bench's baseline and check-vs-qemu
# share it.
build_util_tree() {
    select_version
    install_system_deps
    select_python
    prepare_source
    ucontext_util_tree
    UTIL_LIBS=$(util_libs "$U")
}
