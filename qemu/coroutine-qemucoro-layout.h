/*
 * QEMU's struct Coroutine as qemucoro relies on it, checked with the QEMU
 * tree's own headers by both C files QEMU compiles with qemucoro (copied
 * to util/ by qemu/apply-backend.py): in switch mode QEMU's generic layer
 * uses every field of the backend's mirror (crates/qemu-backend/src/lib.rs);
 * in full mode util/async.c shares the head of the core's own Coroutine
 * (crates/coroutine/src/co.rs). Both Rust structs are checked against one
 * Rust table of the same word offsets (crates/util/src/qemu_layout.rs);
 * keep it and this one in step.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_LAYOUT_H
#define QEMUCORO_LAYOUT_H

#include "qemu/coroutine_int.h"

#define QC_WORD sizeof(void *)
#define QC_CHECK_WORD(field, words)                                          \
    _Static_assert(offsetof(Coroutine, field) == (words) * QC_WORD,         \
                   "qemucoro: struct Coroutine field '" #field "' is not "  \
                   "at word " #words " as the Rust mirrors have it; this "  \
                   "QEMU tree changed the layout: update "                  \
                   "qemu/coroutine-qemucoro-layout.h and the mirrors")

QC_CHECK_WORD(entry, 0);
QC_CHECK_WORD(entry_arg, 1);
QC_CHECK_WORD(caller, 2);
QC_CHECK_WORD(pool_next, 3);
QC_CHECK_WORD(locks_held, 4);
QC_CHECK_WORD(ctx, 5);
QC_CHECK_WORD(scheduled, 6);
QC_CHECK_WORD(co_queue_next, 7);
QC_CHECK_WORD(co_queue_wakeup, 8);
QC_CHECK_WORD(co_scheduled_next, 10);
_Static_assert(sizeof(Coroutine) == 11 * QC_WORD,
               "qemucoro: sizeof(struct Coroutine) is not the 11 words the "
               "Rust mirrors have; this QEMU tree changed the layout");

/* Instrumentation QEMU's ucontext backend supports and qemucoro does not. */
#ifdef CONFIG_SAFESTACK
#error "qemucoro: SafeStack is not supported (needs a second stack)"
#endif

#endif /* QEMUCORO_LAYOUT_H */
