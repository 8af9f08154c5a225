/*
 * QEMU's clocks and timers header, served by qemucoro's generated
 * coroutine.h: QEMUTimer (embeddable, full definition there), timer_new*,
 * timer_init*, aio_timer_new/aio_timer_init, timer_mod*, timer_del ...
 * The timer_new and timer_init families make timers of the main loop.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_QEMU_TIMER_H
#define QEMUCORO_QEMU_TIMER_H

#include <stdio.h>
#include <stdlib.h>

#include "qemu/coroutine.h"

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
