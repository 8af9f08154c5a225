/*
 * Included first in every file of the C suite when `make check-vs-qemu`
 * builds it against QEMU's own util/ code: QEMU's headers want osdep.h
 * before anything else, and this pulls in the API the suite uses.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_VS_QEMU_H
#define QEMUCORO_VS_QEMU_H

#include "qemu/osdep.h"
#include "qemu/coroutine.h"
#include "qemu/lockable.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qapi/error.h"
#include "block/aio.h"
#include "iothread.h"       /* QEMU's tests/unit/iothread.h */

/*
 * qemucoro's extensions, declared so that the TEST_OURS tests of them
 * compile; they are never called here (and so never linked).
 */
typedef struct {
    size_t live;
    size_t pooled;
} QemucoroStats;
void qemucoro_get_stats(QemucoroStats *stats);
size_t qemucoro_stack_size(Coroutine *co);
size_t qemucoro_stack_high_water(Coroutine *co);
void qemucoro_dump(int fd);

#endif
