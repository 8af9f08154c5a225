/*
 * The event loop where QEMU's behaviour is subtle: aio_poll nested in a
 * bottom half or an fd handler, the order of a batch of bottom halves, fds
 * closed while registered or that epoll cannot watch, contexts destroyed
 * with work pending, and polling from a thread that does not own the
 * context. Each test also runs against QEMU (make check-vs-qemu); those that
 * could hang run in a child under an alarm.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#define _GNU_SOURCE
#include "block/aio.h"
#include "iothread.h"
#include "qemu/main-loop.h"
#include "harness.h"

#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

static void count_cb(void *opaque)
{
    int *count = opaque;
    (*count)++;
}

typedef struct {
    bool ran[2];
} Pair;

static void wait_for_partner(Pair *p, int me)
{
    p->ran[me] = true;
    while (!p->ran[!me]) {
        aio_poll(qemu_get_aio_context(), true);
    }
}

static void first_of_pair(void *opaque)
{
    wait_for_partner(opaque, 0);
}

static void second_of_pair(void *opaque)
{
    wait_for_partner(opaque, 1);
}

static void poll_in_bh(void *opaque)
{
    Pair p = { { false, false } };

    (void)opaque;
    aio_bh_schedule_oneshot(qemu_get_aio_context(), first_of_pair, &p);
    aio_bh_schedule_oneshot(qemu_get_aio_context(), second_of_pair, &p);
    while (!p.ran[0] || !p.ran[1]) {
        aio_poll(qemu_get_aio_context(), true);
    }
}

/*
 * Check that aio_poll nested in a bottom half continues the batch it runs
 * in: two bottom halves scheduled together each wait (in aio_poll) for the
 * other, so whichever runs first needs the nested poll to run the second
 * (QEMU's AIO_WAIT_WHILE in a bottom half).
 */
TEST(bh_nested_poll_continues_batch, "/aio/bh/nested-poll-continues-batch")
{
    CHECK(child_passes(poll_in_bh, NULL));
}

static char order[8];

static void note_a(void *opaque) { (void)opaque; strcat(order, "a"); }
static void note_b(void *opaque) { (void)opaque; strcat(order, "b"); }
static void note_c(void *opaque) { (void)opaque; strcat(order, "c"); }

/* Check that bottom halves scheduled in one batch run newest first. */
TEST(bh_batch_newest_first, "/aio/bh/batch-newest-first")
{
    AioContext *ctx = qemu_get_aio_context();

    order[0] = '\0';
    aio_bh_schedule_oneshot(ctx, note_a, NULL);
    aio_bh_schedule_oneshot(ctx, note_b, NULL);
    aio_bh_schedule_oneshot(ctx, note_c, NULL);
    CHECK(aio_poll(ctx, false));
    CHECK(strcmp(order, "cba") == 0);
}

typedef struct {
    int fd[2];          /* read ends of two pipes */
    int calls[2];
    bool nested;
} TwoReaders;

static void read_dry_then_nest(TwoReaders *t, int me)
{
    char buf[16];

    t->calls[me]++;
    while (read(t->fd[me], buf, sizeof(buf)) > 0) {
    }
    if (!t->nested) {
        t->nested = true;
        aio_poll(qemu_get_aio_context(), false);
    }
}

static void reader0(void *opaque)
{
    read_dry_then_nest(opaque, 0);
}

static void reader1(void *opaque)
{
    read_dry_then_nest(opaque, 1);
}

static void nested_fd_round(void *opaque)
{
    AioContext *ctx = qemu_get_aio_context();
    TwoReaders t = { .nested = false };
    int p0[2], p1[2];

    (void)opaque;
    CHECK(pipe2(p0, O_NONBLOCK) == 0 && pipe2(p1, O_NONBLOCK) == 0);
    t.fd[0] = p0[0];
    t.fd[1] = p1[0];
    aio_set_fd_handler(ctx, t.fd[0], reader0, NULL, NULL, NULL, &t);
    aio_set_fd_handler(ctx, t.fd[1], reader1, NULL, NULL, NULL, &t);
    CHECK(write(p0[1], "x", 1) == 1 && write(p1[1], "y", 1) == 1);
    CHECK(aio_poll(ctx, true));
    CHECK(t.calls[0] == 1 && t.calls[1] == 1);
    aio_set_fd_handler(ctx, t.fd[0], NULL, NULL, NULL, NULL, NULL);
    aio_set_fd_handler(ctx, t.fd[1], NULL, NULL, NULL, NULL, NULL);
}

/*
 * Check that two fds ready in the same round have their handlers called
 * once each when the first handler runs a nested aio_poll (which calls the
 * second): the outer round does not call it again for its stale event.
 */
TEST(fd_nested_poll_runs_each_once, "/aio/fd-handler/nested-poll-runs-each-once")
{
    CHECK(child_passes(nested_fd_round, NULL));
}

static void expire_flag(void *opaque)
{
    *(bool *)opaque = true;
}

typedef struct {
    int polls;
    int calls;
} ClosedFd;

/* A fixed number for the fd whose number is reused, above what the loops
 * themselves take (a new number would be the lowest free one). */
#define REUSED_FD 200

static void closed_fd_then_reused(void *opaque)
{
    AioContext *ctx = qemu_get_aio_context();
    ClosedFd *c = opaque;
    bool expired = false;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS, expire_flag, &expired);
    int old[2], fresh[2];

    CHECK(pipe2(old, O_NONBLOCK) == 0);
    CHECK(dup2(old[0], REUSED_FD) == REUSED_FD);    /* old[0] keeps the file */
    aio_set_fd_handler(ctx, REUSED_FD, count_cb, NULL, NULL, NULL, &c->calls);
    close(REUSED_FD);
    aio_set_fd_handler(ctx, REUSED_FD, NULL, NULL, NULL, NULL, NULL);
    CHECK(write(old[1], "x", 1) == 1);  /* the old file is readable */
    CHECK(pipe2(fresh, O_NONBLOCK) == 0);
    CHECK(dup2(fresh[0], REUSED_FD) == REUSED_FD);  /* the number is reused */
    aio_set_fd_handler(ctx, REUSED_FD, count_cb, NULL, NULL, NULL, &c->calls);
    timer_mod(t, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + 50);
    while (!expired) {
        aio_poll(ctx, true);
        c->polls++;
    }
    aio_set_fd_handler(ctx, REUSED_FD, NULL, NULL, NULL, NULL, NULL);
    timer_free(t);
    close(REUSED_FD);
    close(old[0]);
    close(old[1]);
    close(fresh[0]);
    close(fresh[1]);
    CHECK(c->calls == 0);
    CHECK(c->polls <= 3);
}

/*
 * Check that an fd closed while registered (its file still open through a
 * dup) and then removed leaves nothing behind: a blocking aio_poll blocks,
 * and a new fd that reuses the number gets no events of the old file.
 */
TEST(fd_closed_while_registered, "/aio/fd-handler/closed-while-registered")
{
    ClosedFd c = { 0, 0 };

    CHECK(child_passes(closed_fd_then_reused, &c));
}

static void closed_fd_reregistered(void *opaque)
{
    AioContext *ctx = qemu_get_aio_context();
    int calls = 0;
    int old[2], fresh[2];

    (void)opaque;
    CHECK(pipe2(old, O_NONBLOCK) == 0);
    CHECK(dup2(old[0], REUSED_FD) == REUSED_FD);
    close(old[0]);
    aio_set_fd_handler(ctx, REUSED_FD, count_cb, NULL, NULL, NULL, &calls);
    close(REUSED_FD);                   /* the file is gone for good */
    close(old[1]);
    CHECK(pipe2(fresh, O_NONBLOCK) == 0);
    CHECK(dup2(fresh[0], REUSED_FD) == REUSED_FD);
    aio_set_fd_handler(ctx, REUSED_FD, count_cb, NULL, NULL, NULL, &calls);
    CHECK(write(fresh[1], "x", 1) == 1);
    CHECK(aio_poll(ctx, true));
    CHECK(calls == 1);
    aio_set_fd_handler(ctx, REUSED_FD, NULL, NULL, NULL, NULL, NULL);
    close(REUSED_FD);
    close(fresh[0]);
    close(fresh[1]);
}

/*
 * Check that a new fd may be registered under the number of a closed one
 * whose handler was never removed, and that it works.
 */
TEST(fd_number_reused_without_removal, "/aio/fd-handler/number-reused-without-removal")
{
    CHECK(child_passes(closed_fd_reregistered, NULL));
}

/*
 * Check that an fd epoll cannot watch (/dev/null: no poll support) is
 * accepted and always ready, as poll() reports it.
 */
TEST(fd_unwatchable_always_ready, "/aio/fd-handler/unwatchable-always-ready")
{
    AioContext *ctx = qemu_get_aio_context();
    int fd = open("/dev/null", O_RDONLY);
    int calls = 0;

    aio_set_fd_handler(ctx, fd, count_cb, NULL, NULL, NULL, &calls);
    CHECK(aio_poll(ctx, true));
    CHECK(aio_poll(ctx, true));
    CHECK(calls == 2);
    aio_set_fd_handler(ctx, fd, NULL, NULL, NULL, NULL, NULL);
    CHECK(!aio_poll(ctx, false));
    CHECK(calls == 2);
    close(fd);
}

static void coroutine_fn wait_dev_null(void *opaque)
{
    int fd = open("/dev/null", O_RDONLY);

    yield_until_fd_readable(fd);
    close(fd);
    *(bool *)opaque = true;
}

/* Check that yield_until_fd_readable on a regular file returns. */
TEST(yield_until_unwatchable_readable, "/aio/fd-handler/yield-until-unwatchable-readable")
{
    bool done = false;

    qemu_coroutine_enter(qemu_coroutine_create(wait_dev_null, &done));
    while (!done) {
        aio_poll(qemu_get_aio_context(), true);
    }
}

/* Where the abort children keep what they leak on purpose, so that
 * Valgrind finds it reachable when they abort (global: the compiler may
 * drop stores to a static nobody reads). */
AioContext *leaked_ctx;
QEMUBH *leaked_bh;
QEMUTimer *leaked_timer;
IOThread *leaked_iothread;

static void unref_with_scheduled_bh(void *opaque)
{
    (void)opaque;
    leaked_ctx = aio_context_new(NULL);
    leaked_bh = aio_bh_new(leaked_ctx, count_cb, NULL);
    qemu_bh_schedule(leaked_bh);
    aio_context_unref(leaked_ctx);
}

/* Check that destroying a context with a scheduled bottom half aborts
 * naming the bottom half. */
TEST(unref_scheduled_bh_aborts, "/aio/context/unref-scheduled-bh-aborts")
{
    CHECK(child_aborts_with(unref_with_scheduled_bh, NULL,
          ABORT_MSG("aio_context_unref: BH 'count_cb' leaked, aborting...",
                    "aio_ctx_finalize: BH 'count_cb' leaked, aborting...")));
}

static void unref_with_oneshot_bh(void *opaque)
{
    (void)opaque;
    leaked_ctx = aio_context_new(NULL);
    aio_bh_schedule_oneshot(leaked_ctx, count_cb, NULL);
    aio_context_unref(leaked_ctx);
}

/* Check that destroying a context with a one-shot bottom half pending
 * aborts naming it. */
TEST(unref_oneshot_bh_aborts, "/aio/context/unref-oneshot-bh-aborts")
{
    CHECK(child_aborts_with(unref_with_oneshot_bh, NULL,
          ABORT_MSG("aio_context_unref: BH 'count_cb' leaked, aborting...",
                    "aio_ctx_finalize: BH 'count_cb' leaked, aborting...")));
}

static void unref_with_armed_timer(void *opaque)
{
    (void)opaque;
    leaked_ctx = aio_context_new(NULL);
    leaked_timer = aio_timer_new(leaked_ctx, QEMU_CLOCK_REALTIME, SCALE_MS, count_cb, NULL);
    timer_mod(leaked_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + 1000);
    aio_context_unref(leaked_ctx);
}

/* Check that destroying a context with an armed timer aborts. */
TEST(unref_armed_timer_aborts, "/aio/context/unref-armed-timer-aborts")
{
    CHECK(child_aborts_with(unref_with_armed_timer, NULL,
          ABORT_MSG("aio_context_unref: a timer is still armed, aborting...",
                    "*timerlist_free: Assertion `!timerlist_has_timers(timer_list)' failed.")));
}

static void coroutine_fn sleep_long(void *opaque)
{
    (void)opaque;
    qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, 10LL * 1000 * 1000 * 1000);
}

static void start_sleeper(void *opaque)
{
    qemu_coroutine_enter(qemu_coroutine_create(sleep_long, opaque));
}

/* Children that start threads are exec'd afresh: ThreadSanitizer cannot
 * start threads in a fork of a process that had some. */
CHILD(join_with_sleeper, "join-with-sleeper")
{
    IOThread *iothread = iothread_new();

    aio_bh_schedule_oneshot(iothread_get_aio_context(iothread), start_sleeper, NULL);
    usleep(20 * 1000);
    iothread_join(iothread);
}

/* Check that joining an iothread with a coroutine asleep in it aborts. */
TEST(join_with_sleeper_aborts, "/aio/iothread/join-with-sleeper-aborts")
{
    CHECK(exec_child_aborts_with("join-with-sleeper", NULL,
          ABORT_MSG("aio_context_unref: a timer is still armed, aborting...",
                    "*timerlist_free: Assertion `!timerlist_has_timers(timer_list)' failed.")));
}

CHILD(poll_iothread_ctx, "poll-iothread-ctx")
{
    leaked_iothread = iothread_new();
    aio_poll(iothread_get_aio_context(leaked_iothread), false);
}

/* Check that polling another thread's context aborts. */
TEST(poll_other_thread_aborts, "/aio/poll/other-thread-aborts")
{
    CHECK(exec_child_aborts_with("poll-iothread-ctx", NULL,
          ABORT_MSG("aio_poll: ctx is not the calling thread's AioContext",
                    "*aio_poll: Assertion `in_aio_context_home_thread(*' failed.")));
}

static void poll_new_ctx(void *opaque)
{
    (void)opaque;
    leaked_ctx = aio_context_new(NULL);
    aio_poll(leaked_ctx, false);
}

/* Check that polling a new context no thread has made its own aborts. */
TEST(poll_unowned_aborts, "/aio/poll/unowned-aborts")
{
    CHECK(child_aborts_with(poll_new_ctx, NULL,
          ABORT_MSG("aio_poll: ctx is not the calling thread's AioContext",
                    "*aio_poll: Assertion `in_aio_context_home_thread(*' failed.")));
}

static void coroutine_fn sleep_zero(void *opaque)
{
    (void)opaque;
    qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, 0);
}

static void *sleep_on_plain_thread(void *opaque)
{
    qemu_coroutine_enter(qemu_coroutine_create(sleep_zero, opaque));
    return NULL;
}

CHILD(plain_thread_sleeps, "plain-thread-sleeps")
{
    pthread_t t;

    pthread_create(&t, NULL, sleep_on_plain_thread, NULL);
    pthread_join(t, NULL);
}

/*
 * Check that a coroutine on a thread with no AioContext cannot sleep (no
 * loop would wake it): it aborts naming the function. QEMU dereferences
 * the NULL context instead.
 */
TEST_OURS(sleep_without_context_aborts, "/aio/context/sleep-without-context-aborts",
          "QEMU crashes on the NULL context")
{
    CHECK(exec_child_aborts_with("plain-thread-sleeps", NULL,
          "qemu_co_sleep_ns_wakeable: the calling thread has no AioContext"));
}
