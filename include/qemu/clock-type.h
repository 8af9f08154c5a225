/*
 * QEMU's clock names, an enum as in QEMU's qemu/timer.h. The library takes
 * the value as an int and aborts with a message on one out of range.
 * Included by qemucoro's generated coroutine.h.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_QEMU_CLOCK_TYPE_H
#define QEMUCORO_QEMU_CLOCK_TYPE_H

typedef enum {
    /* Monotonic; keeps running while the guest is stopped (host timeouts). */
    QEMU_CLOCK_REALTIME = 0,
    /* The guest's clock; without a guest, the monotonic clock. */
    QEMU_CLOCK_VIRTUAL = 1,
    /* The host's wall clock (CLOCK_REALTIME): jumps when the date is set. */
    QEMU_CLOCK_HOST = 2,
    /* The guest's real-time clock; without a guest, the monotonic clock. */
    QEMU_CLOCK_VIRTUAL_RT = 3,
    QEMU_CLOCK_MAX
} QEMUClockType;

#endif
