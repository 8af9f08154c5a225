/*
 * QEMU's clocks and timers header, served by qemucoro's generated
 * coroutine.h. The timer_new* helpers create timers of the main loop.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_QEMU_TIMER_H
#define QEMUCORO_QEMU_TIMER_H

#include <stdio.h>
#include <stdlib.h>

#include "qemu/coroutine.h"

#define timer_new(type, scale, cb, opaque) \
    aio_timer_new(qemu_get_aio_context(), (type), (scale), (cb), (opaque))
#define timer_new_ns(type, cb, opaque) timer_new((type), SCALE_NS, (cb), (opaque))
#define timer_new_us(type, cb, opaque) timer_new((type), SCALE_US, (cb), (opaque))
#define timer_new_ms(type, cb, opaque) timer_new((type), SCALE_MS, (cb), (opaque))

/*
 * QEMU sets up its main loop's clocks here. qemucoro's clocks need no set
 * up; a deadline-change callback (QEMU's notify_cb, for icount) is not
 * supported and aborts rather than being ignored.
 */
typedef void QEMUTimerListNotifyCB(void *opaque, QEMUClockType type);

static inline void init_clocks(QEMUTimerListNotifyCB *notify_cb)
{
    if (notify_cb) {
        fprintf(stderr, "init_clocks: notify_cb is not supported\n");
        abort();
    }
}

#endif
