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

/* The GLib side (aio_get_g_source), only for programs built with GLib. */
#if !defined(QEMUCORO_NO_GLIB) && defined(__has_include)
#if __has_include(<glib.h>)
#include "block/aio-glib.h"
#endif
#endif

/* As in QEMU: the bottom half is named after its callback, the name a
 * context destroyed with the bottom half still pending reports. */
#define aio_bh_new(ctx, cb, opaque) \
    aio_bh_new_full((ctx), (cb), (opaque), #cb, NULL)
#define aio_bh_schedule_oneshot(ctx, cb, opaque) \
    aio_bh_schedule_oneshot_full((ctx), (cb), (opaque), #cb)

#endif
