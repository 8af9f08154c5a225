/*
 * An AioContext as a GLib event source (libqemucoro-glib, pkg-config
 * module qemucoro-glib): QEMU's aio_get_g_source (block/aio.h) and
 * qemu_init_main_loop (qemu/main-loop.h). block/aio.h includes this
 * header by itself when <glib.h> is on the include path (as it is with
 * `pkg-config --cflags qemucoro-glib`) unless QEMUCORO_NO_GLIB is defined,
 * so a program without GLib never sees it.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_BLOCK_AIO_GLIB_H
#define QEMUCORO_BLOCK_AIO_GLIB_H

#include <glib.h>
#include "qemu/coroutine.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The GSource of `ctx`, with a reference for the caller (drop it with
 * g_source_unref); the same source on every call. Attached to a
 * GMainContext, each iteration of that context runs ctx's bottom halves,
 * scheduled coroutines, ready fd handlers and expired timers, as
 * aio_poll(ctx, false) does, and sleeps until one of them is ready. Only
 * ctx's home thread may iterate it (others abort). Dropping ctx's last
 * reference destroys the source: keep ctx alive while it is attached.
 */
GSource *aio_get_g_source(AioContext *ctx);

/*
 * Attaches the main context's GSource to GLib's default main context, so
 * that g_main_context_iteration(NULL, ...) and g_main_loop_run on the main
 * thread run the main loop. Returns 0; `errp` is never set. A second call
 * does nothing.
 */
int qemu_init_main_loop(Error **errp);

#ifdef __cplusplus
}
#endif

#endif
