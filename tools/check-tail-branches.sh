#!/usr/bin/env bash
# No `ret` crosses a switch on the C API's enter and yield (see
# src/coroutine.rs), checked on built libraries, x86_64 or aarch64:
# enter_begin and qemu_coroutine_yield reach qemucoro_switch by a tail
# jump (`jmp`, `b`) and never call it (`call`, `bl`), and
# qemu_coroutine_enter leaves without a `ret`. Prints each tail jump found.
# Run by `make check-shared` and cross/check-aarch64.sh; with --want, by
# qemu/build-backend.sh for the backend's qemu_coroutine_switch.
#   Usage: tools/check-tail-branches.sh [--want "FUNCTION..."] OBJDUMP LIBRARY...
#   --want: the functions that must tail-jump into the switch (default
#   enter_begin and qemu_coroutine_yield)
# An archive's objects are not linked yet: there the switch is named by
# the branch's relocation, on the line below the instruction.
set -euo pipefail
want="enter_begin qemu_coroutine_yield"
if [ "${1:-}" = --want ]; then
    want=$2
    shift 2
fi
objdump=$1
shift
status=0
for lib in "$@"; do
    [ -f "$lib" ] || { echo "tail branches: no $lib"; status=1; continue; }
    "$objdump" -dr --no-show-raw-insn "$lib" | awk -v lib="${lib##*/}" -v want_list="$want" '
        # A function starts: its name, unmangled or in a Rust mangled name.
        /^[0-9a-f]+ <[^>]+>:$/ {
            name = substr($2, 2, length($2) - 3); fn = ""
            if (name ~ /^_ZN.*11enter_begin17h[0-9a-f]+E$/) name = "enter_begin"
            if (name == "qemu_coroutine_enter" || (" " want_list " ") ~ (" " name " ")) fn = name
            next
        }
        fn == "" { next }
        # An instruction: "ADDR:<tab>MNEMONIC<tab or spaces>OPERANDS".
        /^ +[0-9a-f]+:\t/ {
            insn = substr($0, index($0, "\t") + 1); gsub(/\t+/, " ", insn)
            split(insn, word, " "); op = word[1]
            if (fn == "qemu_coroutine_enter" && op ~ /^ret/) {
                print lib ": qemu_coroutine_enter: " insn; bad["ret in qemu_coroutine_enter"] = 1
            }
        }
        # The switch: a Rust copy (mangled: "15qemucoro_switch17h") or the
        # aarch64 one (plain); not the other functions of the switch crate.
        /15qemucoro_switch17h|[<\t ]qemucoro_switch([>+\t ]|$)/ {
            if ($0 ~ /^\t/) { rel = $0; gsub(/[\t ]+/, " ", rel); insn = insn " (" substr(rel, 2) ")" }
            if (op == "jmp" || op == "b") { tail[fn] = 1; print lib ": " fn ": " insn }
            else if (op == "call" || op == "bl") { bad[fn " calls qemucoro_switch"] = 1; print lib ": " fn ": " insn }
        }
        END {
            n = split(want_list, want, " ")
            for (i = 1; i <= n; i++) if (!(want[i] in tail)) bad[want[i] " does not tail-jump into qemucoro_switch"] = 1
            for (b in bad) { print lib ": " b; failed = 1 }
            exit failed
        }' || { echo "tail branches: $lib: a ret crosses a switch (above)"; status=1; }
done
exit $status
