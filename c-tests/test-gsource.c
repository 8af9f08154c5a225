/*
 * The main context as a GLib event source (libqemucoro-glib): GLib's
 * g_main_context_iteration runs its bottom halves, coroutines, fd handlers
 * and timers, and sleeps only as long as they allow.
 *
 * Built only where GLib is: `make check-glib` (QEMUCORO_TEST_GLIB, linked
 * with libqemucoro-glib) and `make check-vs-qemu` (VS_QEMU); the GLib-free
 * suite compiles this file to nothing. The main context is attached to
 * GLib's default context by qemu_init_main_loop (against QEMU, by the
 * harness).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#if defined(QEMUCORO_TEST_GLIB) || defined(VS_QEMU)
#define _GNU_SOURCE
#include <glib.h>
#include "block/aio.h"
#include "qemu/main-loop.h"
#include "harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

/* GLib's default context runs the main context, and has nothing pending. */
static AioContext *attached_main_context(void)
{
#ifndef VS_QEMU
    CHECK(qemu_init_main_loop(NULL) == 0);
#endif
    while (g_main_context_iteration(NULL, false)) {
        /* drain what earlier tests left */
    }
    return qemu_get_aio_context();
}

static void count_cb(void *opaque)
{
    int *count = opaque;
    (*count)++;
}

typedef struct {
    QEMUBH *bh;
    int count;
    int max;
} Rescheduling;

static void reschedule_cb(void *opaque)
{
    Rescheduling *r = opaque;
    if (++r->count < r->max) {
        qemu_bh_schedule(r->bh);
    }
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Check that an iteration with nothing to do dispatches nothing, also
 * after an aio_notify that no iteration was waiting for. */
TEST(idle_iteration, "/gsource/idle-iteration-dispatches-nothing")
{
    AioContext *ctx = attached_main_context();

    CHECK(!g_main_context_iteration(NULL, false));
    aio_notify(ctx);
    while (g_main_context_iteration(NULL, false)) {
    }
    CHECK(!g_main_context_iteration(NULL, false));
}

/* Check that aio_get_g_source returns the same source every time. */
TEST(same_source, "/gsource/same-source-every-time")
{
    AioContext *ctx = attached_main_context();
    GSource *a = aio_get_g_source(ctx);
    GSource *b = aio_get_g_source(ctx);

    CHECK(a == b);
    CHECK(g_source_get_context(a) == g_main_context_default());
    g_source_unref(a);
    g_source_unref(b);
}

/* Check that a scheduled bottom half runs once, in the next iteration. */
TEST(bh_runs_once, "/gsource/bh/runs-once")
{
    AioContext *ctx = attached_main_context();
    int count = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &count);

    qemu_bh_schedule(bh);
    CHECK(count == 0);
    CHECK(g_main_context_iteration(NULL, false));
    CHECK(count == 1);
    CHECK(!g_main_context_iteration(NULL, false));
    CHECK(count == 1);
    qemu_bh_delete(bh);
}

static void blocking_iteration_runs_bh(void *opaque)
{
    AioContext *ctx = opaque;
    int count = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &count);

    qemu_bh_schedule(bh);
    CHECK(g_main_context_iteration(NULL, true));
    CHECK(count == 1);
    qemu_bh_delete(bh);
}

/* Check that a blocking iteration does not sleep while a bottom half is
 * scheduled (prepare says the source is ready). */
TEST(bh_blocking_iteration, "/gsource/bh/blocking-iteration-does-not-sleep")
{
    CHECK(child_passes(blocking_iteration_runs_bh, attached_main_context()));
}

/* Check that a bottom half that reschedules itself runs once per
 * iteration, not again in the iteration that ran it. */
TEST(bh_rescheduled, "/gsource/bh/rescheduled-runs-next-iteration")
{
    AioContext *ctx = attached_main_context();
    Rescheduling r = { .max = 3 };

    r.bh = aio_bh_new(ctx, reschedule_cb, &r);
    qemu_bh_schedule(r.bh);
    CHECK(g_main_context_iteration(NULL, false));
    CHECK(r.count == 1);
    CHECK(g_main_context_iteration(NULL, false));
    CHECK(r.count == 2);
    while (g_main_context_iteration(NULL, false)) {
    }
    CHECK(r.count == 3);
    qemu_bh_delete(r.bh);
}

/* Check that a cancelled bottom half does not run. */
TEST(bh_cancelled, "/gsource/bh/cancelled-does-not-run")
{
    AioContext *ctx = attached_main_context();
    int count = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &count);

    qemu_bh_schedule(bh);
    qemu_bh_cancel(bh);
    while (g_main_context_iteration(NULL, false)) {
    }
    CHECK(count == 0);
    qemu_bh_delete(bh);
}

typedef struct {
    int fd;
    int reads;
} Reader;

static void read_one(void *opaque)
{
    Reader *r = opaque;
    char c;
    CHECK(read(r->fd, &c, 1) == 1);
    r->reads++;
}

/* Check that the read handler of a readable fd runs in an iteration, and
 * no iteration dispatches once the data is consumed. */
TEST(fd_ready, "/gsource/fd/ready-handler-runs")
{
    AioContext *ctx = attached_main_context();
    int fds[2];
    Reader r = { 0 };

    CHECK(pipe2(fds, O_NONBLOCK) == 0);
    r.fd = fds[0];
    aio_set_fd_handler(ctx, fds[0], read_one, NULL, NULL, NULL, &r);
    while (g_main_context_iteration(NULL, false)) {
    }
    CHECK(r.reads == 0);
    CHECK(write(fds[1], "x", 1) == 1);
    CHECK(g_main_context_iteration(NULL, false));
    CHECK(r.reads == 1);
    while (g_main_context_iteration(NULL, false)) {
    }
    CHECK(!g_main_context_iteration(NULL, false));
    CHECK(r.reads == 1);
    aio_set_fd_handler(ctx, fds[0], NULL, NULL, NULL, NULL, NULL);
    close(fds[0]);
    close(fds[1]);
}

/* Check that a handler that leaves data unread runs once per iteration
 * (level-triggered, as in aio_poll). */
TEST(fd_level, "/gsource/fd/once-per-iteration-until-consumed")
{
    AioContext *ctx = attached_main_context();
    int fds[2];
    Reader r = { 0 };

    CHECK(pipe2(fds, O_NONBLOCK) == 0);
    r.fd = fds[0];
    aio_set_fd_handler(ctx, fds[0], read_one, NULL, NULL, NULL, &r);
    CHECK(write(fds[1], "xyz", 3) == 3);
    CHECK(g_main_context_iteration(NULL, false));
    CHECK(r.reads == 1);
    CHECK(g_main_context_iteration(NULL, false));
    CHECK(r.reads == 2);
    while (g_main_context_iteration(NULL, false)) {
    }
    CHECK(r.reads == 3);
    aio_set_fd_handler(ctx, fds[0], NULL, NULL, NULL, NULL, NULL);
    close(fds[0]);
    close(fds[1]);
}

/* Check that a removed handler is not called for its fd's data. */
TEST(fd_removed, "/gsource/fd/removed-handler-not-called")
{
    AioContext *ctx = attached_main_context();
    int fds[2];
    Reader r = { 0 };

    CHECK(pipe2(fds, O_NONBLOCK) == 0);
    r.fd = fds[0];
    aio_set_fd_handler(ctx, fds[0], read_one, NULL, NULL, NULL, &r);
    aio_set_fd_handler(ctx, fds[0], NULL, NULL, NULL, NULL, NULL);
    CHECK(write(fds[1], "x", 1) == 1);
    while (g_main_context_iteration(NULL, false)) {
    }
    CHECK(r.reads == 0);
    close(fds[0]);
    close(fds[1]);
}

static void *write_after_delay(void *opaque)
{
    int *wfd = opaque;
    usleep(20 * 1000);
    CHECK(write(*wfd, "x", 1) == 1);
    return NULL;
}

static void blocking_iteration_wakes_on_fd(void *opaque)
{
    AioContext *ctx = opaque;
    int fds[2];
    Reader r = { 0 };
    pthread_t t;

    CHECK(pipe2(fds, O_NONBLOCK) == 0);
    r.fd = fds[0];
    aio_set_fd_handler(ctx, fds[0], read_one, NULL, NULL, NULL, &r);
    pthread_create(&t, NULL, write_after_delay, &fds[1]);
    while (r.reads == 0) {
        g_main_context_iteration(NULL, true);
    }
    pthread_join(t, NULL);
    aio_set_fd_handler(ctx, fds[0], NULL, NULL, NULL, NULL, NULL);
    close(fds[0]);
    close(fds[1]);
}

/* Check that a blocking iteration sleeps in poll() until a watched fd
 * becomes readable, and then runs its handler. */
TEST(fd_wakes, "/gsource/fd/blocking-iteration-wakes-on-fd")
{
    CHECK(child_passes(blocking_iteration_wakes_on_fd, attached_main_context()));
}

static void blocking_iteration_sleeps_until_timer(void *opaque)
{
    AioContext *ctx = opaque;
    int count = 0;
    int iterations = 0;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, count_cb, &count);
    int64_t start = now_ns();

    timer_mod(t, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) + 50 * 1000 * 1000);
    while (count == 0) {
        g_main_context_iteration(NULL, true);
        iterations++;
    }
    CHECK(now_ns() - start >= 50 * 1000 * 1000);
    /* A source that did not bound GLib's sleep would hang (the child's
     * alarm), one that did not let it sleep would spin. */
    CHECK(iterations <= 2);
    timer_free(t);
}

/* Check that a blocking iteration sleeps until the next timer is due,
 * then runs it. */
TEST(timer_wakes, "/gsource/timer/blocking-iteration-sleeps-until-due")
{
    CHECK(child_passes(blocking_iteration_sleeps_until_timer, attached_main_context()));
}

typedef struct {
    QEMUBH *bh;
    int count;
} FromThread;

static void *schedule_after_delay(void *opaque)
{
    FromThread *f = opaque;
    usleep(20 * 1000);
    qemu_bh_schedule(f->bh);
    return NULL;
}

static void bh_from_thread_wakes_iteration(void *opaque)
{
    AioContext *ctx = opaque;
    FromThread f = { 0 };
    pthread_t t;

    f.bh = aio_bh_new(ctx, count_cb, &f.count);
    pthread_create(&t, NULL, schedule_after_delay, &f);
    while (f.count == 0) {
        g_main_context_iteration(NULL, true);
    }
    pthread_join(t, NULL);
    qemu_bh_delete(f.bh);
    /* The wake-up is consumed: iterations go idle again. */
    while (g_main_context_iteration(NULL, false)) {
    }
    CHECK(!g_main_context_iteration(NULL, false));
}

/* Check that a bottom half scheduled from another thread wakes an
 * iteration sleeping in poll() (aio_notify writes the eventfd while GLib
 * may sleep), and that the wake-up does not keep the source ready. */
TEST(notify_wakes, "/gsource/notify/bh-from-thread-wakes-iteration")
{
    CHECK(child_passes(bh_from_thread_wakes_iteration, attached_main_context()));
}

typedef struct {
    Coroutine *co;
    AioContext *ctx;
} Scheduling;

static void *schedule_co_after_delay(void *opaque)
{
    Scheduling *s = opaque;
    usleep(20 * 1000);
    aio_co_schedule(s->ctx, s->co);
    return NULL;
}

static void coroutine_fn count_co(void *opaque)
{
    int *count = opaque;
    (*count)++;
}

static void co_from_thread_runs(void *opaque)
{
    AioContext *ctx = opaque;
    int count = 0;
    Scheduling s = { qemu_coroutine_create(count_co, &count), ctx };
    pthread_t t;

    pthread_create(&t, NULL, schedule_co_after_delay, &s);
    while (count == 0) {
        g_main_context_iteration(NULL, true);
    }
    pthread_join(t, NULL);
}

/* Check that a coroutine scheduled from another thread runs in an
 * iteration. */
TEST(co_scheduled, "/gsource/coroutine/scheduled-from-thread-runs")
{
    CHECK(child_passes(co_from_thread_runs, attached_main_context()));
}

typedef struct {
    AioContext *ctx;
    QEMUBH *inner;
    int inner_count;
    bool inner_ran_nested;
    bool via_aio_poll;
} Nesting;

static void outer_cb(void *opaque)
{
    Nesting *n = opaque;

    qemu_bh_schedule(n->inner);
    if (n->via_aio_poll) {
        aio_poll(n->ctx, false);
    } else {
        g_main_context_iteration(NULL, false);
    }
    n->inner_ran_nested = n->inner_count == 1;
}

static void nested_run(AioContext *ctx, bool via_aio_poll)
{
    Nesting n = { .ctx = ctx, .via_aio_poll = via_aio_poll };
    QEMUBH *outer = aio_bh_new(ctx, outer_cb, &n);

    n.inner = aio_bh_new(ctx, count_cb, &n.inner_count);
    qemu_bh_schedule(outer);
    CHECK(g_main_context_iteration(NULL, false));
    CHECK(n.inner_ran_nested);
    CHECK(n.inner_count == 1);
    qemu_bh_delete(outer);
    qemu_bh_delete(n.inner);
}

/* Check that a callback dispatched by GLib can iterate the same GMainContext
 * again and that runs the context's new work (the source may recurse). */
TEST(nested_iteration, "/gsource/nested/iteration-in-callback")
{
    nested_run(attached_main_context(), false);
}

/* Check that a callback dispatched by GLib can call aio_poll on its
 * context. */
TEST(nested_aio_poll, "/gsource/nested/aio-poll-in-callback")
{
    nested_run(attached_main_context(), true);
}

static void iterate_other_threads_context(void *opaque)
{
    GMainContext *gctx = g_main_context_new();
    AioContext *ctx = aio_context_new(NULL);
    GSource *source = aio_get_g_source(ctx);

    (void)opaque;
    g_source_attach(source, gctx);
    g_main_context_iteration(gctx, false);
}

/* Check that iterating a context's source on a thread that does not run
 * that context aborts, as aio_poll there does. */
TEST_OURS(other_thread_aborts, "/gsource/misuse/not-home-thread-aborts",
          "QEMU does not check which thread dispatches a context's GSource")
{
    attached_main_context();
    CHECK(child_aborts_with(iterate_other_threads_context, NULL,
                            "qemucoro_gsource_prepare: the AioContext's GSource "
                            "runs on a thread whose context is another"));
}

/* Check that dropping a context's last reference destroys its source, so
 * that a GMainContext it is attached to never calls it again. */
TEST_OURS(unref_destroys_source, "/gsource/context-unref-destroys-source",
          "QEMU's context is its GSource: an attached source keeps it alive")
{
    GMainContext *gctx = g_main_context_new();
    AioContext *ctx = aio_context_new(NULL);
    GSource *source = aio_get_g_source(ctx);

    g_source_attach(source, gctx);
    CHECK(!g_source_is_destroyed(source));
    aio_context_unref(ctx);
    CHECK(g_source_is_destroyed(source));
    CHECK(!g_main_context_iteration(gctx, false));
    g_source_unref(source);
    g_main_context_unref(gctx);
}

#endif
