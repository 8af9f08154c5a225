/*
 * Adaptive busy polling (aio_context_set_poll_params and the io_poll /
 * io_poll_ready handlers): when a blocking aio_poll busy-polls, what it
 * calls when a poll succeeds, and how the poll time grows and shrinks,
 * seen through the calls of io_poll. Each test runs on a thread of its
 * own with a fresh context (no other fd may stop the polling), and also
 * against QEMU (make check-vs-qemu).
 *
 * Timing: poll times are only ever checked from below, or as "none at
 * all" against "some", so a loaded machine can only make a run slower.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "block/aio.h"
#include "qapi/error.h"
#include "harness.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define SECOND_NS (1000LL * 1000 * 1000)
#define MS_NS (1000LL * 1000)

typedef struct {
    EventNotifier n;            /* first: the handlers get &n */
    AioContext *ctx;
    atomic_bool ready;          /* what io_poll returns */
    atomic_int io_poll_calls;
    int io_read_calls;
    int poll_ready_calls;
    int64_t first_poll_ns;      /* the first and last io_poll calls since */
    int64_t last_poll_ns;       /* first_poll_ns was reset to 0 */
    bool nested;                /* inside io_poll_ready */
    QEMUTimer *backstop;        /* ends a blocking aio_poll that hangs */
} Poller;

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * SECOND_NS + ts.tv_nsec;
}

static bool counting_poll(void *opaque)
{
    Poller *p = opaque;
    int64_t now = now_ns();

    atomic_fetch_add(&p->io_poll_calls, 1);
    if (!p->first_poll_ns) {
        p->first_poll_ns = now;
    }
    p->last_poll_ns = now;
    return atomic_load(&p->ready);
}

static void clearing_read(EventNotifier *n)
{
    event_notifier_test_and_clear(n);
    ((Poller *)n)->io_read_calls++;
}

static void clearing_poll_ready(EventNotifier *n)
{
    Poller *p = (Poller *)n;

    atomic_store(&p->ready, false);
    p->poll_ready_calls++;
}

static void arm_backstop(Poller *p)
{
    timer_mod(p->backstop, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) + 10 * SECOND_NS);
}

static void backstop_fired(void *opaque)
{
    fprintf(stderr, "test-aio-poll: a blocking aio_poll waited 10 s\n");
    arm_backstop(opaque);
}

/*
 * Runs fn(p) on a new thread whose own loop is a fresh context, with a
 * timer 10 s ahead, so that a loop that never polls fails the test's
 * checks instead of hanging in aio_poll.
 */
static void *own_loop_thread(void *opaque)
{
    void **args = opaque;
    void (*fn)(Poller *) = (void (*)(Poller *))args[0];
    Poller p;

    memset(&p, 0, sizeof(p));
    p.ctx = aio_context_new(&error_abort);
    qemu_set_current_aio_context(p.ctx);
    p.backstop = aio_timer_new(p.ctx, QEMU_CLOCK_REALTIME, SCALE_NS,
                               backstop_fired, &p);
    arm_backstop(&p);
    CHECK(event_notifier_init(&p.n, 0) == 0);
    aio_set_event_notifier(p.ctx, &p.n, clearing_read, counting_poll,
                           clearing_poll_ready);
    fn(&p);
    aio_set_event_notifier(p.ctx, &p.n, NULL, NULL, NULL);
    event_notifier_cleanup(&p.n);
    timer_free(p.backstop);
    aio_context_unref(p.ctx);
    return NULL;
}

static void in_own_loop(void (*fn)(Poller *))
{
    void *args[1] = { (void *)fn };
    pthread_t t;

    CHECK(pthread_create(&t, NULL, own_loop_thread, args) == 0);
    pthread_join(t, NULL);
}

/*
 * Blocking aio_poll with the notifier already set: it busy-polls (if
 * polling is on and the notifier is polled) while io_poll says false, then
 * sees the fd and runs io_read, which joins the notifier to the polled set.
 * QEMU may need two: when every fd has an io_poll, an aio_poll that must
 * not block (here: after the aio_notify of a handler or parameter change)
 * does not look at the fds at all.
 */
static void set_and_poll(Poller *p)
{
    int reads = p->io_read_calls;

    event_notifier_set(&p->n);
    while (p->io_read_calls == reads) {
        aio_poll(p->ctx, true);
    }
    CHECK(p->io_read_calls == reads + 1);
}

static void never_polled_while_off(Poller *p)
{
    int i;

    for (i = 0; i < 3; i++) {
        set_and_poll(p);
    }
    /* On, then off again: every fd's poll time starts again from 0. */
    aio_context_set_poll_params(p->ctx, SECOND_NS, 0, 0, &error_abort);
    set_and_poll(p);
    set_and_poll(p);
    aio_context_set_poll_params(p->ctx, 0, 0, 0, &error_abort);
    atomic_store(&p->io_poll_calls, 0);
    for (i = 0; i < 3; i++) {
        set_and_poll(p);
    }
    CHECK(atomic_load(&p->io_poll_calls) == 0);
}

/*
 * Check that with polling off (the default, and after turning it off) a
 * blocking aio_poll never calls io_poll: six polls that run io_read.
 */
TEST(test_poll_off_no_io_poll, "/aio/poll/off-never-calls-io-poll")
{
    in_own_loop(never_polled_while_off);
}

static void polled_while_on(Poller *p)
{
    aio_context_set_poll_params(p->ctx, SECOND_NS, 0, 0, &error_abort);
    set_and_poll(p);            /* not polled before its first event */
    CHECK(atomic_load(&p->io_poll_calls) == 0);
    set_and_poll(p);
    CHECK(atomic_load(&p->io_poll_calls) >= 1);
    CHECK(p->poll_ready_calls == 0);
}

/*
 * Check that with polling on, a notifier whose handler has run is polled:
 * the next blocking aio_poll calls its io_poll before it sees the fd.
 */
TEST(test_poll_on_calls_io_poll, "/aio/poll/on-calls-io-poll")
{
    in_own_loop(polled_while_on);
}

static void ready_runs_poll_ready(Poller *p)
{
    aio_context_set_poll_params(p->ctx, SECOND_NS, 0, 0, &error_abort);
    set_and_poll(p);
    atomic_store(&p->ready, true);      /* the fd itself stays quiet */
    CHECK(aio_poll(p->ctx, true));
    CHECK(p->poll_ready_calls == 1);
    CHECK(p->io_read_calls == 1);
    CHECK(!atomic_load(&p->ready));
}

/*
 * Check that when io_poll returns true, the blocking aio_poll returns
 * progress after running io_poll_ready (and not io_read: the fd is not
 * readable), without any fd event.
 */
TEST(test_poll_ready_runs, "/aio/poll/io-poll-true-runs-io-poll-ready")
{
    in_own_loop(ready_runs_poll_ready);
}

static void check_rejected(AioContext *ctx, int64_t max, int64_t grow,
                           int64_t shrink, const char *name)
{
    char msg[80];
    Error *err = NULL;

    snprintf(msg, sizeof(msg), "%s value must be in range [0, %" PRId64 "]",
             name, INT64_MAX);
    aio_context_set_poll_params(ctx, max, grow, shrink, &err);
    CHECK(err != NULL);
    if (err) {
        CHECK(strcmp(error_get_pretty(err), msg) == 0);
        error_free(err);
    }
}

static void negative_params_rejected(Poller *p)
{
    check_rejected(p->ctx, -1, 0, 0, "poll-max-ns");
    check_rejected(p->ctx, SECOND_NS, -2, 0, "poll-grow");
    check_rejected(p->ctx, SECOND_NS, 2, INT64_MIN, "poll-shrink");
    /* Nothing was set: polling is still off. */
    set_and_poll(p);
    set_and_poll(p);
    CHECK(atomic_load(&p->io_poll_calls) == 0);
}

/*
 * Check that a negative max, grow or shrink is an Error naming it (the
 * message of QEMU's iothread poll-* properties) and changes nothing.
 */
TEST_OURS(test_poll_params_negative, "/aio/poll/negative-params-rejected",
          "QEMU checks the range in its iothread properties, not here")
{
    in_own_loop(negative_params_rejected);
}

/* One set_and_poll; returns how long io_poll was busy-polled (0: never). */
static int64_t polled_ns(Poller *p)
{
    p->first_poll_ns = 0;
    p->last_poll_ns = 0;
    set_and_poll(p);
    return p->last_poll_ns - p->first_poll_ns;
}

static void poll_time_grows(Poller *p)
{
    int i;

    /*
     * Each event comes right after the poll time (io_poll says false, the
     * fd is set), well within the maximum: 0 -> 4 us -> 32 us -> 256 us
     * -> 2 ms -> 16 ms.
     */
    aio_context_set_poll_params(p->ctx, SECOND_NS, 8, 0, &error_abort);
    for (i = 0; i < 5; i++) {
        polled_ns(p);
    }
    CHECK(polled_ns(p) >= 8 * MS_NS);
}

/*
 * Check that the poll time grows by poll-grow while events come later than
 * it but within poll-max-ns: after five such events the loop busy-polls
 * for 16 ms (checked as at least 8), where a fixed 4 us would not.
 */
TEST(test_poll_time_grows, "/aio/poll/time-grows")
{
    in_own_loop(poll_time_grows);
}

static void *set_later(void *opaque)
{
    Poller *p = opaque;
    struct timespec ts = { 0, 300 * MS_NS };

    nanosleep(&ts, NULL);
    event_notifier_set(&p->n);
    return NULL;
}

/* Polls (blocking) until a thread sets the notifier 300 ms from now. */
static void late_event(Poller *p)
{
    pthread_t t;

    CHECK(pthread_create(&t, NULL, set_later, p) == 0);
    while (p->io_read_calls == 0) {
        aio_poll(p->ctx, true);
    }
    pthread_join(t, NULL);
}

static void poll_time_shrinks(Poller *p, int64_t shrink)
{
    aio_context_set_poll_params(p->ctx, 100 * MS_NS, 0, shrink, &error_abort);
    set_and_poll(p);                    /* polled, for 4 us */
    atomic_store(&p->io_poll_calls, 0);
    p->io_read_calls = 0;
    late_event(p);                      /* blocked 300 ms > 100 ms */
    CHECK(atomic_load(&p->io_poll_calls) >= 1);
    atomic_store(&p->io_poll_calls, 0);
    set_and_poll(p);
}

static void poll_time_resets(Poller *p)
{
    poll_time_shrinks(p, 0);
    CHECK(atomic_load(&p->io_poll_calls) == 0);
    set_and_poll(p);                    /* and grows again */
    CHECK(atomic_load(&p->io_poll_calls) >= 1);
}

/*
 * Check that an event later than poll-max-ns, with poll-shrink 0, stops
 * the polling (time 0: the next aio_poll calls no io_poll), and that the
 * next timely event starts it again.
 */
TEST(test_poll_time_resets, "/aio/poll/time-shrinks-to-zero")
{
    in_own_loop(poll_time_resets);
}

static void poll_time_halves(Poller *p)
{
    poll_time_shrinks(p, 2);
    CHECK(atomic_load(&p->io_poll_calls) >= 1);
}

/*
 * Check that with poll-shrink 2 a late event divides the poll time (4 us
 * to 2 us) rather than ending the polling: the next aio_poll still polls.
 */
TEST(test_poll_time_halves, "/aio/poll/time-shrinks-by-factor")
{
    in_own_loop(poll_time_halves);
}

static bool always_true(void *opaque)
{
    (void)opaque;
    return true;
}

static bool always_false(void *opaque)
{
    (void)opaque;
    return false;
}

static void nested_poll_ready(EventNotifier *n)
{
    Poller *p = (Poller *)n;

    CHECK(!p->nested);
    p->nested = true;
    p->poll_ready_calls++;
    /* Would run this io_poll_ready again, forever, if it were polled. */
    aio_poll(p->ctx, false);
    p->nested = false;
}

static void not_reentered(Poller *p)
{
    EventNotifier quiet;

    aio_context_set_poll_params(p->ctx, SECOND_NS, 2, 2, &error_abort);
    aio_set_event_notifier(p->ctx, &p->n, clearing_read, always_true,
                           nested_poll_ready);
    CHECK(event_notifier_init(&quiet, 0) == 0);
    aio_set_event_notifier(p->ctx, &quiet, clearing_read, always_false,
                           clearing_poll_ready);
    set_and_poll(p);
    CHECK(aio_poll(p->ctx, true));
    CHECK(aio_poll(p->ctx, true));
    CHECK(p->poll_ready_calls == 2);
    aio_set_event_notifier(p->ctx, &quiet, NULL, NULL, NULL);
    event_notifier_cleanup(&quiet);
}

/*
 * Check that an EventNotifier's io_poll_ready is not polled again by a
 * nested aio_poll inside it (its condition is still true there): each
 * outer aio_poll runs it exactly once.
 */
TEST(test_poll_not_reentered, "/aio/poll/event-notifier-not-reentered")
{
    in_own_loop(not_reentered);
}
