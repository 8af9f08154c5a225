#!/bin/sh
# `make check-qemu-nbd`: qemu-nbd and qemu-storage-daemon (the latter with
# its export in an iothread) from three tools-only trees of one QEMU, on
# ucontext, switch mode and full mode, each serving the same qcow2 image to
# real NBD clients: nbdcopy with 4 connections copies it out (the copy must
# be byte-identical to the image's data), and fio's nbd engine reads it at
# random (4 KiB, queue depth 32) for a fixed time. The servers take turns,
# BENCH_ROUNDS rounds; medians are printed, with each side's ratio to
# ucontext. Fails if a copy differs or a server or client fails.
#   QEMU_VERSION, QEMU_SRC, QEMU_DL_DIR   as for check-qemu.sh
#   BENCH_ROUNDS=3   NBD_IMAGE_MB=512   NBD_FIO_SECONDS=8
set -eu
. "$(dirname "$0")/common.sh"

ROUNDS=${BENCH_ROUNDS:-3}
IMAGE_MB=${NBD_IMAGE_MB:-512}
FIO_SECONDS=${NBD_FIO_SECONDS:-8}
SIDES="ucontext switch full"

install_nbd_clients() {
    command -v nbdcopy >/dev/null && command -v fio >/dev/null && return 0
    log "installing: libnbd-bin fio"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q libnbd-bin fio
}

# tree SIDE: the build directory of a side (configure_mode_trees sets them).
tree() {
    case $1 in
        ucontext) echo "$U" ;;
        switch) echo "$Q" ;;
        full) echo "$QF" ;;
    esac
}

build_trees() {
    configure_mode_trees
    for s in $SIDES; do
        build_targets "$(tree "$s")" qemu-img qemu-nbd storage-daemon/qemu-storage-daemon
    done
    built_with "$(tree full)/qemu-nbd" full || die "qemu-nbd of the full tree is not on qemucoro"
    built_with "$(tree switch)/qemu-nbd" switch || die "qemu-nbd of the switch tree is not on qemucoro"
    nm "$(tree ucontext)/qemu-nbd" | grep -q coroutine_trampoline || die "qemu-nbd of the ucontext tree is not on ucontext"
}

# A qcow2 image of IMAGE_MB random MiB with holes, and its data as raw.
make_image() {
    D=$WORK/nbd; rm -rf "$D"; mkdir -p "$D"
    head -c $((IMAGE_MB * 1024 * 1024)) /dev/urandom >"$D/data.raw"
    # Zero every eighth MiB, so the image has unallocated clusters too.
    i=0
    while [ $i -lt "$IMAGE_MB" ]; do
        dd if=/dev/zero of="$D/data.raw" bs=1M seek=$i count=1 conv=notrunc status=none
        i=$((i + 8))
    done
    "$(tree ucontext)/qemu-img" convert -f raw -O qcow2 "$D/data.raw" "$D/image.qcow2"
}

# start_server SIDE KIND: serves the image read-only on $D/sock;
# KIND nbd (qemu-nbd, 4 clients) or qsd (qemu-storage-daemon, export in an
# iothread). Sets SERVER to its pid.
start_server() {
    rm -f "$D/sock"
    b=$(tree "$1")
    case $2 in
        nbd) "$b/qemu-nbd" -r -f qcow2 -e 8 -t -k "$D/sock" "$D/image.qcow2" \
                 >"$D/server-$1-$2.log" 2>&1 & ;;
        qsd) "$b/storage-daemon/qemu-storage-daemon" \
                 --object iothread,id=io0 \
                 --blockdev driver=file,node-name=file,filename="$D/image.qcow2",read-only=on \
                 --blockdev driver=qcow2,node-name=img,file=file,read-only=on \
                 --nbd-server addr.type=unix,addr.path="$D/sock",max-connections=8 \
                 --export type=nbd,id=exp,node-name=img,name=,iothread=io0 \
                 >"$D/server-$1-$2.log" 2>&1 & ;;
    esac
    SERVER=$!
    n=0
    while [ ! -S "$D/sock" ]; do
        n=$((n + 1))
        [ $n -lt 100 ] || { cat "$D/server-$1-$2.log"; die "$1 $2 server did not start"; }
        sleep 0.1
    done
}

stop_server() {
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
}

URI() { echo "nbd+unix:///?socket=$D/sock"; }

# copy_run SIDE KIND -> seconds for nbdcopy -C 4; checks the bytes.
copy_run() {
    start_server "$1" "$2"
    rm -f "$D/copy.raw"
    t0=$(date +%s.%N)
    nbdcopy -C 4 "$(URI)" "$D/copy.raw" || { stop_server; die "nbdcopy from $1 $2 failed"; }
    t1=$(date +%s.%N)
    stop_server
    cmp -s "$D/copy.raw" "$D/data.raw" || die "nbdcopy from $1 $2: the copy differs from the image's data"
    echo "$t0 $t1" | awk '{printf "%.3f\n", $2 - $1}'
}

# fio_run SIDE KIND -> read IOPS (4 KiB random reads, 4 jobs, depth 32).
fio_run() {
    start_server "$1" "$2"
    out=$(fio --name=rr --ioengine=nbd --uri="$(URI)" --rw=randread --bs=4k \
              --iodepth=32 --numjobs=4 --group_reporting --time_based \
              --runtime="$FIO_SECONDS" --minimal 2>"$D/fio.err") ||
        { stop_server; cat "$D/fio.err"; die "fio against $1 $2 failed"; }
    stop_server
    # --minimal: field 8 is the read IOPS.
    echo "$out" | awk -F';' '{print $8}'
}


# measure LABEL FUNC KIND: ROUNDS rounds, the sides in turn; one row.
measure() {
    for s in $SIDES; do eval "r_$s=''"; done
    i=0
    while [ $i -lt "$ROUNDS" ]; do
        for s in $SIDES; do eval "r_$s=\"\$r_$s $($2 "$s" "$3")\""; done
        i=$((i + 1))
    done
    line=$(printf "%-28s" "$1")
    for s in $SIDES; do
        # shellcheck disable=SC2086
        eval "m_$s=\$(median \$r_$s)"
        eval "line=\"\$line \$(printf '%12s' \$m_$s)\""
    done
    # shellcheck disable=SC2154
    echo "$line  $(awk -v u="$m_ucontext" -v s="$m_switch" -v f="$m_full" \
        'BEGIN {printf "switch/uc %.2f, full/uc %.2f", s / u, f / u}')"
}

main() {
    select_version
    log "NBD serving: QEMU $QV's qemu-nbd and qemu-storage-daemon on ucontext, switch and full mode"
    install_system_deps
    install_nbd_clients
    select_python
    prepare_source
    build_trees
    make_image
    log "$ROUNDS rounds, servers in turn; medians (image: $IMAGE_MB MiB of qcow2, 1/8 unallocated)"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
    printf "%-28s %12s %12s %12s\n" "" ucontext switch full
    measure "qemu-nbd nbdcopy -C 4 (s)" copy_run nbd
    measure "qsd+iothread nbdcopy (s)" copy_run qsd
    measure "qemu-nbd fio randread IOPS" fio_run nbd
    measure "qsd+iothread fio IOPS" fio_run qsd
    echo "every copy was byte-identical to the image's data"
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
}

main "$@"
