/*
 * QEMU's unit-test iothread helper (tests/unit/iothread.h) on qemucoro's
 * own iothreads: iothread_new, iothread_get_aio_context and iothread_join
 * as names for qemucoro_iothread_new and friends.
 *
 * The library exports only the qemucoro_ names, so a program may compile
 * QEMU's tests/unit/iothread.c (whose iothread.h, beside it, is found
 * before this one) and link with the archive or the shared library
 * without a clash. Include this header instead to use the library's.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_IOTHREAD_H
#define QEMUCORO_IOTHREAD_H

#include "block/aio.h"

#define iothread_new qemucoro_iothread_new
#define iothread_get_aio_context qemucoro_iothread_get_aio_context
#define iothread_join qemucoro_iothread_join

#endif
