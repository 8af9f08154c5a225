/*
 * EventNotifier (qemu/event_notifier.h) and aio_set_event_notifier
 * (block/aio.h): a notifier stays set until cleared, and its read handler
 * runs from aio_poll for as long as it is set.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#define _GNU_SOURCE
#include "block/aio.h"
#include "qemu/main-loop.h"
#include "harness.h"

#include <poll.h>
#include <unistd.h>

static bool readable(EventNotifier *e)
{
    struct pollfd p = { .fd = event_notifier_get_fd(e), .events = POLLIN };

    return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/* Check that a notifier made inactive is not set, one made active is. */
TEST(init_active, "/event-notifier/init-active-or-not")
{
    EventNotifier off, on;

    CHECK(event_notifier_init(&off, false) == 0);
    CHECK(event_notifier_init(&on, true) == 0);
    CHECK(!event_notifier_test_and_clear(&off));
    CHECK(event_notifier_test_and_clear(&on));
    CHECK(!event_notifier_test_and_clear(&on));
    event_notifier_cleanup(&off);
    event_notifier_cleanup(&on);
}

/* Check that two sets are cleared by one test_and_clear (a flag, not a count). */
TEST(set_is_a_flag, "/event-notifier/sets-clear-at-once")
{
    EventNotifier e;

    CHECK(event_notifier_init(&e, false) == 0);
    CHECK(event_notifier_set(&e) == 0);
    CHECK(event_notifier_set(&e) == 0);
    CHECK(event_notifier_test_and_clear(&e));
    CHECK(!event_notifier_test_and_clear(&e));
    event_notifier_cleanup(&e);
}

/* Check that the notifier's fd is readable exactly while it is set. */
TEST(fd_readable_while_set, "/event-notifier/fd-readable-while-set")
{
    EventNotifier e;

    CHECK(event_notifier_init(&e, false) == 0);
    CHECK(!readable(&e));
    event_notifier_set(&e);
    CHECK(readable(&e));
    CHECK(readable(&e));
    event_notifier_test_and_clear(&e);
    CHECK(!readable(&e));
    event_notifier_cleanup(&e);
}

typedef struct {
    EventNotifier e;
    int runs;
    bool clear;
} Counted;

static void count_run(EventNotifier *e)
{
    Counted *c = (Counted *)e;   /* e is its first member */

    c->runs++;
    if (c->clear) {
        event_notifier_test_and_clear(e);
    }
}

/*
 * Check that the read handler runs on every aio_poll while the notifier
 * stays set, and not once the handler clears it.
 */
TEST(handler_runs_while_set, "/event-notifier/aio-handler-runs-while-set")
{
    AioContext *ctx = qemu_get_aio_context();
    Counted c = { .runs = 0, .clear = false };

    CHECK(event_notifier_init(&c.e, false) == 0);
    aio_set_event_notifier(ctx, &c.e, count_run, NULL, NULL);
    aio_poll(ctx, false);
    CHECK(c.runs == 0);
    event_notifier_set(&c.e);
    aio_poll(ctx, false);
    CHECK(c.runs == 1);
    aio_poll(ctx, false);
    CHECK(c.runs == 2);
    c.clear = true;
    aio_poll(ctx, false);
    CHECK(c.runs == 3);
    aio_poll(ctx, false);
    CHECK(c.runs == 3);
    aio_set_event_notifier(ctx, &c.e, NULL, NULL, NULL);
    event_notifier_cleanup(&c.e);
}

/* Check that NULL handlers remove the notifier: a later set runs nothing. */
TEST(null_handler_removes, "/event-notifier/aio-null-handler-removes")
{
    AioContext *ctx = qemu_get_aio_context();
    Counted c = { .runs = 0, .clear = true };

    CHECK(event_notifier_init(&c.e, false) == 0);
    aio_set_event_notifier(ctx, &c.e, count_run, NULL, NULL);
    aio_set_event_notifier(ctx, &c.e, NULL, NULL, NULL);
    event_notifier_set(&c.e);
    aio_poll(ctx, false);
    aio_poll(ctx, false);
    CHECK(c.runs == 0);
    CHECK(event_notifier_test_and_clear(&c.e));
    event_notifier_cleanup(&c.e);
}

static void *set_from_thread(void *opaque)
{
    usleep(10 * 1000);
    event_notifier_set(opaque);
    return NULL;
}

/* Check that a set from another thread wakes a blocking aio_poll. */
TEST(set_wakes_blocking_poll, "/event-notifier/set-wakes-blocking-poll")
{
    AioContext *ctx = qemu_get_aio_context();
    Counted c = { .runs = 0, .clear = true };
    QemuThread t;

    CHECK(event_notifier_init(&c.e, false) == 0);
    aio_set_event_notifier(ctx, &c.e, count_run, NULL, NULL);
    qemu_thread_create(&t, "setter", set_from_thread, &c.e, QEMU_THREAD_JOINABLE);
    while (c.runs == 0) {
        aio_poll(ctx, true);
    }
    qemu_thread_join(&t);
    CHECK(c.runs == 1);
    aio_set_event_notifier(ctx, &c.e, NULL, NULL, NULL);
    event_notifier_cleanup(&c.e);
}
