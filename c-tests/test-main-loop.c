/*
 * QEMU's main-loop helpers as macros over the main context: code that
 * uses qemu_bh_new, timer_new_ns and qemu_set_fd_handler compiles and runs
 * with aio_poll(qemu_get_aio_context(), ...) as its loop.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#define _GNU_SOURCE
#include "qemu/coroutine.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "harness.h"

#include <fcntl.h>
#include <unistd.h>

static void count_cb(void *opaque)
{
    int *count = opaque;
    (*count)++;
}

/* Check that qemu_bh_new makes a bottom half of the main context. */
TEST(qemu_bh_new_main_context, "/main-loop/qemu-bh-new")
{
    int count = 0;
    QEMUBH *bh = qemu_bh_new(count_cb, &count);

    qemu_bh_schedule(bh);
    CHECK(aio_poll(qemu_get_aio_context(), false));
    CHECK(count == 1);
    qemu_bh_delete(bh);
}

/* Check that timer_new_ns makes a timer of the main context. */
TEST_OURS(timer_new_ns_main_context, "/main-loop/timer-new-ns",
          "QEMU runs these timers in main_loop_wait, not aio_poll")
{
    int count = 0;
    QEMUTimer *t = timer_new_ns(QEMU_CLOCK_REALTIME, count_cb, &count);

    timer_mod(t, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) + 1000);
    CHECK(timer_expire_time_ns(t) > 0);
    while (count == 0) {
        aio_poll(qemu_get_aio_context(), true);
    }
    CHECK((int64_t)timer_expire_time_ns(t) == -1);  /* uint64_t in QEMU */
    timer_free(t);
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

/* Check that qemu_set_fd_handler handlers run from the main context. */
TEST_OURS(qemu_set_fd_handler_main_context, "/main-loop/qemu-set-fd-handler",
          "QEMU puts them in iohandler_ctx, run by its main loop")
{
    int fds[2];
    Reader r = { 0 };

    CHECK(pipe2(fds, O_NONBLOCK) == 0);
    r.fd = fds[0];
    qemu_set_fd_handler(fds[0], read_one, NULL, &r);
    CHECK(write(fds[1], "x", 1) == 1);
    CHECK(aio_poll(qemu_get_aio_context(), true));
    CHECK(r.reads == 1);
    qemu_set_fd_handler(fds[0], NULL, NULL, NULL);
    close(fds[0]);
    close(fds[1]);
}

static void init_clocks_then_timer(void *opaque)
{
    AioContext *ctx = qemu_get_aio_context();
    int count = 0;
    QEMUTimer *t;

    (void)opaque;
    init_clocks(NULL);
    t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, count_cb, &count);
    timer_mod(t, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) + 1000);
    while (count == 0) {
        aio_poll(ctx, true);
    }
    timer_free(t);
}

/* Check that init_clocks(NULL), as QEMU's test-aio-multithread calls it,
 * leaves the clocks and timers working, at any time. */
TEST_OURS(init_clocks_null, "/main-loop/init-clocks-null",
          "QEMU's may run once, and the harness's qemu_init_main_loop ran it")
{
    CHECK(child_passes(init_clocks_then_timer, NULL));
}

static void notify_cb(void *opaque, QEMUClockType type)
{
    (void)opaque;
    (void)type;
}

static void init_clocks_with_callback(void *opaque)
{
    (void)opaque;
    init_clocks(notify_cb);
}

/* Check that init_clocks refuses a notify callback, which it would never
 * call. */
TEST_OURS(init_clocks_callback, "/main-loop/init-clocks-refuses-callback",
          "QEMU calls it when a main-loop timer changes")
{
    CHECK(child_aborts_with(init_clocks_with_callback, NULL,
                            "init_clocks: a notify callback is not supported (pass NULL)"));
}
