/*
 * libqemucoro-glib: an AioContext as a GLib event source.
 *
 * GLib polls one fd per context, the context's epoll fd, which is readable
 * while a watched fd is ready or the context has been notified; the core
 * library's qemucoro_gsource_* hooks do the rest with QEMU's semantics
 * (prepare: the sleep allowed by bottom halves and timers; check: is
 * anything ready; dispatch: one non-blocking aio_poll). This file is the
 * only one that links GLib, so programs that do not use it never do.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "block/aio-glib.h"

typedef struct {
    GSource source;
    AioContext *ctx;        /* NULL once ctx is gone */
    GPollFD pfd;            /* ctx's epoll fd; fd -1 until the first prepare */
} AioSource;

/* Nanoseconds to poll()'s milliseconds, rounded up so that GLib never
 * wakes before a timer is due (as QEMU's qemu_timeout_ns_to_ms). */
static gint timeout_ns_to_ms(int64_t ns)
{
    if (ns <= 0) {
        return ns < 0 ? -1 : 0;
    }
    return ns >= (int64_t)INT_MAX * 1000000 ? INT_MAX : (gint)((ns + 999999) / 1000000);
}

static gboolean aio_source_prepare(GSource *source, gint *timeout)
{
    AioSource *s = (AioSource *)source;
    int fd;
    int64_t ns = qemucoro_gsource_prepare(s->ctx, &fd);

    /* The context replaces its epoll instance when a registration
     * outlives its fd: poll the current one. */
    if (fd != s->pfd.fd) {
        if (s->pfd.fd >= 0) {
            g_source_remove_poll(source, &s->pfd);
        }
        s->pfd.fd = fd;
        g_source_add_poll(source, &s->pfd);
    }
    *timeout = timeout_ns_to_ms(ns);
    return *timeout == 0;
}

static gboolean aio_source_check(GSource *source)
{
    AioSource *s = (AioSource *)source;

    return qemucoro_gsource_check(s->ctx, s->pfd.revents != 0);
}

static gboolean aio_source_dispatch(GSource *source, GSourceFunc callback,
                                    gpointer user_data)
{
    AioSource *s = (AioSource *)source;

    (void)user_data;
    if (callback) {
        /* As QEMU asserts: the context's callbacks are its own. */
        fprintf(stderr, "aio_get_g_source: the source takes no callback "
                "(g_source_set_callback on it)\n");
        abort();
    }
    qemucoro_gsource_dispatch(s->ctx);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs aio_source_funcs = {
    .prepare = aio_source_prepare,
    .check = aio_source_check,
    .dispatch = aio_source_dispatch,
};

/* Makes ctx's source; the core keeps it (qemucoro_gsource_get). */
static void *aio_source_new(AioContext *ctx)
{
    GSource *source = g_source_new(&aio_source_funcs, sizeof(AioSource));
    AioSource *s = (AioSource *)source;

    s->ctx = ctx;
    s->pfd.fd = -1;
    s->pfd.events = G_IO_IN;
    /* As QEMU's: a callback may iterate the same GMainContext. */
    g_source_set_can_recurse(source, TRUE);
    g_source_set_name(source, "aio-context");
    return source;
}

/* ctx's last reference is gone: GLib must not call the source again,
 * though its users may still hold references to it. */
static void aio_source_release(void *source)
{
    ((AioSource *)source)->ctx = NULL;
    g_source_destroy(source);
    g_source_unref(source);
}

GSource *aio_get_g_source(AioContext *ctx)
{
    GSource *source = qemucoro_gsource_get(ctx, aio_source_new, aio_source_release);

    return g_source_ref(source);
}

int qemu_init_main_loop(Error **errp)
{
    static gsize attached;

    (void)errp;
    if (g_once_init_enter(&attached)) {
        GSource *source = aio_get_g_source(qemu_get_aio_context());

        if (g_source_get_context(source)) {
            fprintf(stderr, "qemu_init_main_loop: the main AioContext's "
                    "GSource is already attached to a GMainContext\n");
            abort();
        }
        g_source_attach(source, NULL);
        g_source_unref(source);
        g_once_init_leave(&attached, 1);
    }
    return 0;
}
