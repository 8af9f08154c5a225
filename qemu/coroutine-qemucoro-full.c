/*
 * qemucoro full-mode glue, compiled inside the QEMU tree (copied to
 * util/coroutine-qemucoro-full.c by qemu/apply-backend.py) when QEMU runs
 * on qemucoro's whole coroutine API (crates/qemu-full) instead of its
 * util/qemu-coroutine*.c. It checks, with this tree's own headers, that
 * the structures QEMU's other code touches are laid out as the Rust core
 * lays them out (struct Coroutine's table is coroutine-qemucoro-layout.h,
 * shared with switch mode), it arms QEMU timers for qemucoro's sleeps (QEMU's
 * aio_timer_init is an inline function, so Rust cannot call it), and it
 * fires util/trace-events' coroutine and CoMutex events for the core
 * (QEMU's trace functions are generated inline functions too).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/osdep.h"
#include "coroutine-qemucoro-layout.h"
#include "qemu/timer.h"
#include "block/aio.h"
#include "trace.h"

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

/* crates/qemu-full/src/trace.rs: the core's trace hooks. */
void qemucoro_qemu_trace_enter(void *ctx, void *from, void *to, void *opaque);
void qemucoro_qemu_trace_yield(void *from, void *to);
void qemucoro_qemu_trace_terminate(void *co);
void qemucoro_qemu_trace_mutex(int event, void *mutex, void *co);

void qemucoro_qemu_trace_enter(void *ctx, void *from, void *to, void *opaque)
{
    trace_qemu_aio_coroutine_enter(ctx, from, to, opaque);
}

void qemucoro_qemu_trace_yield(void *from, void *to)
{
    trace_qemu_coroutine_yield(from, to);
}

void qemucoro_qemu_trace_terminate(void *co)
{
    trace_qemu_coroutine_terminate(co);
}

/* The numbers are crates/coroutine's trace::MutexEvent. */
void qemucoro_qemu_trace_mutex(int event, void *mutex, void *co)
{
    switch (event) {
    case 0:
        trace_qemu_co_mutex_lock_uncontended(mutex, co);
        break;
    case 1:
        trace_qemu_co_mutex_lock_entry(mutex, co);
        break;
    case 2:
        trace_qemu_co_mutex_lock_return(mutex, co);
        break;
    case 3:
        trace_qemu_co_mutex_unlock_entry(mutex, co);
        break;
    case 4:
        trace_qemu_co_mutex_unlock_return(mutex, co);
        break;
    }
}
