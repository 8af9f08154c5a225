/*
 * qemucoro full-mode glue, compiled inside the QEMU tree (copied to
 * util/coroutine-qemucoro-full.c by qemu/apply-backend.py) when QEMU runs
 * on qemucoro's whole coroutine API (crates/qemu-full) instead of its
 * util/qemu-coroutine*.c. It checks, with this tree's own headers, that
 * the structures QEMU's other code touches are laid out as the Rust core
 * lays them out (struct Coroutine's table is coroutine-qemucoro-layout.h,
 * shared with switch mode), and it arms QEMU timers for qemucoro's sleeps (QEMU's
 * aio_timer_init is an inline function, so Rust cannot call it).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/osdep.h"
#include "coroutine-qemucoro-layout.h"
#include "qemu/timer.h"
#include "block/aio.h"

/*
 * crates/locks: QEMU's code embeds these by value (its sizes must hold
 * ours) and its header reads CoMutex's locked and holder inline.
 */
_Static_assert(offsetof(CoMutex, locked) == 0 &&
               offsetof(CoMutex, holder) == 5 * QC_WORD,
               "qemucoro: CoMutex's locked or holder moved");
_Static_assert(sizeof(CoMutex) == 6 * QC_WORD, "qemucoro: CoMutex size");
_Static_assert(sizeof(CoQueue) == 2 * QC_WORD, "qemucoro: CoQueue size");
_Static_assert(sizeof(CoRwlock) >= 3 * QC_WORD, "qemucoro: CoRwlock too small");
_Static_assert(sizeof(QemuCoSleep) == QC_WORD, "qemucoro: QemuCoSleep size");

/* crates/qemu-full/src/qemu.rs: TIMER_BYTES, on the sleeper's stack. */
_Static_assert(sizeof(QEMUTimer) <= 64 && _Alignof(QEMUTimer) <= 8,
               "qemucoro: QEMUTimer outgrew the sleep's timer buffer");

void qemucoro_qemu_timer_start(QEMUTimer *ts, int clock, int64_t ns,
                               QEMUTimerCB *cb, void *opaque);
void qemucoro_qemu_timer_stop(QEMUTimer *ts);

void qemucoro_qemu_timer_start(QEMUTimer *ts, int clock, int64_t ns,
                               QEMUTimerCB *cb, void *opaque)
{
    aio_timer_init(qemu_get_current_aio_context(), ts, clock, SCALE_NS,
                   cb, opaque);
    timer_mod(ts, qemu_clock_get_ns(clock) + ns);
}

void qemucoro_qemu_timer_stop(QEMUTimer *ts)
{
    timer_del(ts);
}
