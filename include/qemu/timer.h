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

#include "qemu/coroutine.h"

/* QEMU's type of init_clocks' deadline-change callback (for icount); the
 * library's init_clocks (coroutine.h) takes only NULL. */
typedef void QEMUTimerListNotifyCB(void *opaque, QEMUClockType type);

#endif
