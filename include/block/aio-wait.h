/*
 * QEMU's AIO_WAIT_WHILE: run an event loop until a condition is false.
 *
 * AIO_WAIT_WHILE(ctx, cond) polls `ctx` while `cond` holds if the caller
 * runs in `ctx`; otherwise (or with ctx NULL) it polls the main loop,
 * which the caller must be running (it aborts if not). It evaluates to
 * true if it polled at all. Another thread that makes `cond` false calls
 * aio_wait_kick() so that a waiter in the main loop looks again.
 * There is no AioContext lock, so AIO_WAIT_WHILE and
 * AIO_WAIT_WHILE_UNLOCKED are the same (as in QEMU 10).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_BLOCK_AIO_WAIT_H
#define QEMUCORO_BLOCK_AIO_WAIT_H

#include "block/aio.h"

#define AIO_WAIT_WHILE_INTERNAL(ctx, cond) ({                       \
    bool waited_ = false;                                           \
    AioContext *poll_ctx_ = qemucoro_aio_wait_begin((ctx));         \
    while ((cond)) {                                                \
        aio_poll(poll_ctx_, true);                                  \
        waited_ = true;                                             \
    }                                                               \
    qemucoro_aio_wait_end();                                        \
    waited_; })

#define AIO_WAIT_WHILE(ctx, cond) AIO_WAIT_WHILE_INTERNAL(ctx, cond)
#define AIO_WAIT_WHILE_UNLOCKED(ctx, cond) AIO_WAIT_WHILE_INTERNAL(ctx, cond)

#endif
