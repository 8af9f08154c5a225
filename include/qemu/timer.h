/*
 * QEMU's clocks and timers header, served by qemucoro's generated
 * coroutine.h. The timer_new* helpers create timers of the main loop.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_QEMU_TIMER_H
#define QEMUCORO_QEMU_TIMER_H

#include "qemu/coroutine.h"

#define timer_new(type, scale, cb, opaque) \
    aio_timer_new(qemu_get_aio_context(), (type), (scale), (cb), (opaque))
#define timer_new_ns(type, cb, opaque) timer_new((type), SCALE_NS, (cb), (opaque))
#define timer_new_us(type, cb, opaque) timer_new((type), SCALE_US, (cb), (opaque))
#define timer_new_ms(type, cb, opaque) timer_new((type), SCALE_MS, (cb), (opaque))

/* QEMU's type of init_clocks' deadline-change callback (for icount); the
 * library's init_clocks (coroutine.h) takes only NULL. */
typedef void QEMUTimerListNotifyCB(void *opaque, QEMUClockType type);

#endif
