# Sourced by check-qemu.sh in full mode: probes that prove full mode inside
# programs linked like QEMU's own.
#
# prove_trace: QEMU's trace points fire from our core and locks as from
# QEMU's own coroutine files. qemu/trace-probe.c is built twice with the
# same tree's headers and flags: against this build's libqemuutil.a and our
# archive, and against QEMU's ucontext tree (its own util/qemu-coroutine*.c,
# the oracle). Both must print the same trace events in the same order,
# with the same arguments (pointers named).
#
# prove_oom: a coroutine that cannot get memory ends the program with one
# line from the archive and SIGABRT (qemu/oom-probe.c).

# compile_like TREE SRC OBJ: SRC compiled as TREE compiles util/log.c.
compile_like() {
    python3 - "$@" <<'PY'
import json, shlex, subprocess, sys
tree, src, obj = sys.argv[1:]
cmds = json.load(open(tree + "/compile_commands.json"))
cmd = next(c for c in cmds if c["file"].endswith("util/log.c"))
args, skip = [], False
for a in shlex.split(cmd["command"]):
    if skip:
        skip = False
    elif a in ("-o", "-c", "-MQ", "-MF"):
        skip = True
    elif a != "-MD":
        args.append(a)
subprocess.run(args + ["-c", src, "-o", obj], cwd=tree, check=True)
PY
}

# trace_run TREE LIB OUT: the probe's events, pointers replaced by names.
trace_run() {
    d=$1/qemucoro-probe; mkdir -p "$d"
    compile_like "$1" "$ROOT/qemu/trace-probe.c" "$d/trace-probe.o"
    probe_link "$1" "$d/trace-probe.o" "$2"
    "$PROBE" >"$3.names" 2>"$3.raw" || { cat "$3.raw"; die "$PROBE failed"; }
    awk 'NR == FNR { name[$1] = $2; next }
         { for (i = 1; i <= NF; i++) if ($i in name) $i = name[$i]; print }' \
        "$3.names" "$3.raw" >"$3"
}

prove_trace() {
    ucontext_util_tree
    out=$BUILD/qemucoro-probe; mkdir -p "$out"
    trace_run "$U" "" "$out/trace-qemu.txt"
    trace_run "$BUILD" "$LIB" "$out/trace-ours.txt"
    n=$(wc -l <"$out/trace-qemu.txt")
    events=$(awk '{print $1}' "$out/trace-qemu.txt" | sort -u | wc -l)
    [ "$events" -eq 8 ] || { cat "$out/trace-qemu.txt"; die "the probe drew $events of the 8 events from QEMU's code"; }
    diff -u "$out/trace-qemu.txt" "$out/trace-ours.txt" ||
        die "full mode's trace events differ from QEMU's (above: - QEMU's, + ours)"
    echo "trace: the probe's $n events (all 8 of util/trace-events' coroutine and CoMutex"
    echo "  events) match QEMU's own, in order and arguments"
}

prove_oom() {
    link_probe oom-probe "$LIB"
    status=0; "$PROBE" 2>"$PROBE.log" || status=$?
    [ "$status" = 134 ] || { cat "$PROBE.log"; die "oom-probe ended with status $status, not SIGABRT (134)"; }
    want='^qemucoro: out of memory allocating [0-9]+ bytes \(alignment [0-9]+\)$'
    { sed -n 1p "$PROBE.log" | grep -q 'the pooled coroutine ran' &&
        sed -n 2p "$PROBE.log" | grep -Eq "$want" &&
        ! grep -q -e backtrace -e panicked "$PROBE.log"; } ||
        { cat "$PROBE.log"; die "oom-probe: not the pooled run, then one out-of-memory line (above)"; }
    echo "oom: with no memory left a pooled coroutine still runs; the next create aborts with"
    echo "  $(sed -n 2p "$PROBE.log")"
}
