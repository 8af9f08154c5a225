/*
 * qemucoro backend glue, compiled inside the QEMU tree (copied to
 * util/coroutine-qemucoro.c by qemu/apply-backend.py) in place of
 * util/coroutine-ucontext.c in switch mode. It defines no symbols: the
 * backend itself is the Rust archive libqemucoro-backend.a. This unit
 * exists to check, with this QEMU tree's own headers and compiler flags,
 * that struct Coroutine is laid out the way crates/qemu-backend/src/lib.rs
 * mirrors it (the table is coroutine-qemucoro-layout.h, shared with full
 * mode), and that the switch's action values are QEMU's.
 * (ASan and TSan builds are supported with the archives that
 * qemu/build-backend.sh builds for them: `asan`, `tsan`.)
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/osdep.h"
#include "coroutine-qemucoro-layout.h"

_Static_assert(COROUTINE_YIELD == 1 && COROUTINE_TERMINATE == 2 &&
               COROUTINE_ENTER == 3,
               "qemucoro: CoroutineAction values differ from "
               "crates/qemu-backend/src/lib.rs");
