/*
 * QEMU's event loop header (AioContext, fd handlers, bottom halves,
 * aio_co_schedule ...), served by qemucoro's generated coroutine.h. As in
 * QEMU it brings in event notifiers, threads and atomics.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_BLOCK_AIO_H
#define QEMUCORO_BLOCK_AIO_H

#include "qemu/atomic.h"
#include "qemu/coroutine.h"
#include "qemu/event_notifier.h"
#include "qemu/thread.h"
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

/*
 * Runs io_read(notifier) from aio_poll on ctx while the notifier is set
 * (it runs again on every poll until the handler clears the notifier);
 * NULL handlers remove the notifier from ctx. io_poll and io_poll_ready
 * are passed on to aio_set_fd_handler with the notifier as their opaque.
 */
static inline void aio_set_event_notifier(AioContext *ctx,
                                          EventNotifier *notifier,
                                          EventNotifierHandler *io_read,
                                          AioPollFn *io_poll,
                                          EventNotifierHandler *io_poll_ready)
{
    aio_set_fd_handler(ctx, event_notifier_get_fd(notifier),
                       (IOHandler *)io_read, NULL, io_poll,
                       (IOHandler *)io_poll_ready, notifier);
}

#endif
