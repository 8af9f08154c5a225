/*
 * QEMU's public coroutine header, served by qemucoro: code written for QEMU
 * that does #include "qemu/coroutine.h" compiles against this.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_QEMU_COROUTINE_H
#define QEMUCORO_QEMU_COROUTINE_H

#include "qemu/atomic.h"     /* qatomic_*, as QEMU code expects */
#include "qemu/coroutine-core.h"
#include "qemu/timer.h"    /* as QEMU's coroutine.h does */

#include "qemu/lockable.h"

/*
 * CoQueue waits and wake-ups take any lock, as in QEMU: a CoMutex *,
 * QemuMutex *, QemuLockable * or NULL.
 */
#define qemu_co_queue_wait(queue, lock) \
    qemu_co_queue_wait_impl((queue), QEMU_MAKE_LOCKABLE(lock), 0)
#define qemu_co_queue_wait_flags(queue, lock, flags) \
    qemu_co_queue_wait_impl((queue), QEMU_MAKE_LOCKABLE(lock), (flags))
#define qemu_co_enter_next(queue, lock) \
    qemu_co_enter_next_impl((queue), QEMU_MAKE_LOCKABLE(lock))
#define qemu_co_enter_all(queue, lock) \
    qemu_co_enter_all_impl((queue), QEMU_MAKE_LOCKABLE(lock))

#endif
