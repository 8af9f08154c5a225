/*
 * Sleeping coroutines (qemu_co_sleep_ns and friends) and qemu_co_timeout.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/coroutine.h"
#include "qemu/main-loop.h"
#include "harness.h"

#include <errno.h>

_Static_assert(sizeof(QemuCoSleep) == sizeof(void *), "QemuCoSleep is one pointer");
_Static_assert(_Alignof(QemuCoSleep) == _Alignof(void *), "QemuCoSleep alignment");

#define MS 1000000LL

typedef struct {
    int64_t ns;
    int64_t slept;
    bool done;
} Sleep;

static void coroutine_fn sleep_and_measure(void *opaque)
{
    Sleep *s = opaque;
    int64_t start = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);

    qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, s->ns);
    s->slept = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) - start;
    s->done = true;
}

static void run_until_done(bool *done)
{
    while (!*done) {
        aio_poll(qemu_get_aio_context(), true);
    }
}

/*
 * Check that a sleep wakes no earlier than asked, and from its own deadline
 * rather than some later one: the slack is wide because Valgrind on a
 * loaded two-core machine once took 50 ms more.
 */
TEST(sleep_wakes_on_time, "/sleep/wakes-on-time")
{
    Sleep s = { .ns = 30 * MS };

    qemu_coroutine_enter(qemu_coroutine_create(sleep_and_measure, &s));
    CHECK(!s.done);
    run_until_done(&s.done);
    CHECK(s.slept >= 30 * MS);
    CHECK(s.slept < 530 * MS);
}

/* Check that a zero sleep yields to the loop and resumes on the next poll. */
TEST(sleep_zero_yields, "/sleep/zero-yields")
{
    Sleep s = { .ns = 0 };

    qemu_coroutine_enter(qemu_coroutine_create(sleep_and_measure, &s));
    CHECK(!s.done);
    CHECK(aio_poll(qemu_get_aio_context(), true));
    CHECK(s.done);
}

typedef struct {
    QemuCoSleep w;
    bool done;
} Wakeable;

static void coroutine_fn sleep_an_hour(void *opaque)
{
    Wakeable *s = opaque;
    qemu_co_sleep_ns_wakeable(&s->w, QEMU_CLOCK_REALTIME, 3600 * 1000 * MS);
    s->done = true;
}

/* Check that qemu_co_sleep_wake ends a sleep early and clears to_wake. */
TEST(sleep_woken_early, "/sleep/woken-early")
{
    Wakeable s = { 0 };

    qemu_coroutine_enter(qemu_coroutine_create(sleep_an_hour, &s));
    CHECK(s.w.to_wake != NULL);
    CHECK(!aio_poll(qemu_get_aio_context(), false));
    qemu_co_sleep_wake(&s.w);
    CHECK(s.done);
    CHECK(s.w.to_wake == NULL);
    qemu_co_sleep_wake(&s.w);      /* nobody sleeps: a no-op */
}

static void coroutine_fn sleep_until_woken(void *opaque)
{
    Wakeable *s = opaque;
    qemu_co_sleep(&s->w);
    s->done = true;
}

/* Check that qemu_co_sleep waits for qemu_co_sleep_wake only. */
TEST(sleep_lasts_until_woken, "/sleep/until-woken")
{
    Wakeable s = { 0 };

    qemu_coroutine_enter(qemu_coroutine_create(sleep_until_woken, &s));
    CHECK(!aio_poll(qemu_get_aio_context(), false));
    CHECK(!s.done);
    qemu_co_sleep_wake(&s.w);
    CHECK(s.done);
}

static void schedule_sleeper(void *opaque)
{
    Wakeable *s = opaque;
    qemu_coroutine_enter(qemu_coroutine_create(sleep_until_woken, s));
    aio_co_schedule(qemu_get_aio_context(), s->w.to_wake);
}

/* Check that scheduling a sleeping coroutine aborts with QEMU's message. */
TEST(schedule_sleeper_aborts, "/sleep/schedule-sleeper-aborts")
{
    Wakeable s = { 0 };

    CHECK(child_aborts_with(schedule_sleeper, &s,
          "aio_co_schedule: Co-routine was already scheduled in 'qemu_co_sleep_ns'"));
}

typedef struct {
    int64_t ns;
    bool finished;
    bool finished_at_return;
    bool cleaned;
    int ret;
    bool done;
} Timed;

static void coroutine_fn sleep_for(void *opaque)
{
    Timed *t = opaque;
    if (t->ns) {
        qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, t->ns);
    }
    t->finished = true;
}

static void clean(void *opaque)
{
    Timed *t = opaque;
    t->cleaned = true;
}

static void coroutine_fn run_with_timeout(void *opaque)
{
    Timed *t = opaque;
    t->ret = qemu_co_timeout(sleep_for, t, 20 * MS, clean);
    /* A late poll can run both timers in one pass: look before it goes on. */
    t->finished_at_return = t->finished;
    t->done = true;
}

/* Check that qemu_co_timeout returns 0 when the entry finishes in time. */
TEST(timeout_finishes, "/sleep/timeout-finishes")
{
    Timed t = { .ns = 1 * MS };

    qemu_coroutine_enter(qemu_coroutine_create(run_with_timeout, &t));
    run_until_done(&t.done);
    CHECK(t.ret == 0);
    CHECK(t.finished);
    CHECK(!t.cleaned);
}

/* Check that an entry finishing without yielding also returns 0. */
TEST(timeout_finishes_at_once, "/sleep/timeout-finishes-at-once")
{
    Timed t = { .ns = 0 };

    qemu_coroutine_enter(qemu_coroutine_create(run_with_timeout, &t));
    run_until_done(&t.done);
    CHECK(t.ret == 0);
    CHECK(t.finished);
}

/* Check that qemu_co_timeout returns -ETIMEDOUT when the time runs out,
 * and that the entry goes on and is cleaned up when it finishes. */
TEST(timeout_expires, "/sleep/timeout-expires")
{
    Timed t = { .ns = 60 * MS };

    qemu_coroutine_enter(qemu_coroutine_create(run_with_timeout, &t));
    run_until_done(&t.done);
    CHECK(t.ret == -ETIMEDOUT);
    CHECK(!t.finished_at_return);
    run_until_done(&t.cleaned);
    CHECK(t.finished);
}

static void sleep_outside_coroutine(void *opaque)
{
    (void)opaque;
    qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, 1);
}

/* Check that sleeping outside a coroutine aborts with a clear message. */
TEST(sleep_outside_coroutine_aborts, "/sleep/outside-coroutine-aborts")
{
    CHECK(child_aborts_with(sleep_outside_coroutine, NULL,
          ABORT_MSG("qemu_co_sleep_ns_wakeable: not in a coroutine",
                    "Co-routine is yielding to no one")));
}

static void get_bad_clock(void *opaque)
{
    (void)opaque;
    qemu_clock_get_ns(QEMU_CLOCK_MAX);
}

/* Check that an invalid clock aborts with a message naming it. */
TEST_OURS(invalid_clock_aborts, "/sleep/invalid-clock-aborts",
          "QEMU does not check the clock type")
{
    CHECK(child_aborts_with(get_bad_clock, NULL,
          "qemu_clock_get_ns: invalid QEMUClockType 4"));
}
