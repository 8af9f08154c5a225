/*
 * QEMU's event loop header (AioContext, fd handlers, bottom halves,
 * aio_co_schedule ...), served by qemucoro's generated coroutine.h.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_BLOCK_AIO_H
#define QEMUCORO_BLOCK_AIO_H

#include "qemu/coroutine.h"
#include "qemu/timer.h"

#endif
