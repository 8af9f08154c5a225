/*
 * qemucoro backend glue, compiled inside the QEMU tree (copied to
 * util/coroutine-qemucoro.c by qemu/apply-backend.py) in place of
 * util/coroutine-ucontext.c. It defines no symbols: the backend itself is
 * the Rust archive libqemucoro-backend.a. This unit exists to check, with
 * this QEMU tree's own headers and compiler flags, that struct Coroutine is
 * laid out the way crates/qemu-backend/src/lib.rs mirrors it. Keep the table below in
 * sync with the const assertions there.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/osdep.h"
#include "qemu/coroutine_int.h"

#define QC_WORD sizeof(void *)
#define QC_CHECK(field, words)                                              \
    _Static_assert(offsetof(Coroutine, field) == (words) * QC_WORD,         \
                   "qemucoro: struct Coroutine field '" #field "' is not "  \
                   "where crates/qemu-backend/src/lib.rs expects it (word "        \
                   #words "); this QEMU tree changed the layout, update "   \
                   "the "                                                   \
                   "mirror in crates/qemu-backend/src/lib.rs and this table")

QC_CHECK(entry, 0);
QC_CHECK(entry_arg, 1);
QC_CHECK(caller, 2);
QC_CHECK(pool_next, 3);
QC_CHECK(locks_held, 4);
QC_CHECK(ctx, 5);
QC_CHECK(scheduled, 6);
QC_CHECK(co_queue_next, 7);
QC_CHECK(co_queue_wakeup, 8);
QC_CHECK(co_scheduled_next, 10);
_Static_assert(sizeof(Coroutine) == 11 * QC_WORD,
               "qemucoro: sizeof(struct Coroutine) differs from the mirror "
               "in crates/qemu-backend/src/lib.rs (11 words); this QEMU tree changed "
               "the layout, update both");
_Static_assert(COROUTINE_YIELD == 1 && COROUTINE_TERMINATE == 2 &&
               COROUTINE_ENTER == 3,
               "qemucoro: CoroutineAction values differ from "
               "crates/qemu-backend/src/lib.rs");

/*
 * Instrumentation that QEMU's ucontext backend supports and we do not.
 * (ASan and TSan builds are supported with the archives that
 * qemu/build-backend.sh builds for them: `asan`, `tsan`.)
 */
#ifdef CONFIG_SAFESTACK
#error "qemucoro backend: SafeStack is not supported (needs a second stack)"
#endif
