/*
 * Timers the caller allocates (embedded in its own structs, set up with
 * timer_init / aio_timer_init), timer_mod_anticipate, and the timer_new
 * family and qemu_set_fd_handler as functions.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#define _GNU_SOURCE
#include "block/aio.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "harness.h"

#include <string.h>
#include <unistd.h>

/* The full definition is in the header, with QEMU's size (48 bytes on
 * 64-bit hosts), so code written for QEMU can embed it by value. */
_Static_assert(sizeof(QEMUTimer) == 5 * sizeof(void *) + 2 * sizeof(int),
               "QEMUTimer size");
_Static_assert(_Alignof(QEMUTimer) == _Alignof(int64_t), "QEMUTimer alignment");

/* A device-like owner with its timer inside. */
typedef struct Owner {
    int fired;
    QEMUTimer timer;
} Owner;

static void owner_fired(void *opaque)
{
    Owner *o = opaque;
    o->fired++;
}

/* Polls `ctx` until `*count` reaches `want`, for at most about 5 s. */
static void poll_until(AioContext *ctx, int *count, int want)
{
    int64_t deadline = qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + 5000;

    while (*count < want && qemu_clock_get_ms(QEMU_CLOCK_REALTIME) < deadline) {
        aio_poll(ctx, true);
    }
}

/* Check that a timer embedded in a struct and set up with aio_timer_init
 * fires once in its context, and can be deinitialised afterwards. */
TEST(aio_timer_init_fires, "/timer/embed/aio-timer-init-fires")
{
    AioContext *ctx = qemu_get_aio_context();
    Owner o = { .fired = 0 };

    aio_timer_init(ctx, &o.timer, QEMU_CLOCK_REALTIME, SCALE_NS, owner_fired, &o);
    CHECK(!timer_pending(&o.timer));
    timer_mod_ns(&o.timer, qemu_clock_get_ns(QEMU_CLOCK_REALTIME) + 1000000);
    CHECK(timer_pending(&o.timer));
    poll_until(ctx, &o.fired, 1);
    CHECK(o.fired == 1);
    CHECK(!timer_pending(&o.timer));
    timer_deinit(&o.timer);
}

/* Check that timer_init_ms counts expiry times in milliseconds. */
TEST(timer_init_ms_scale, "/timer/embed/timer-init-ms-scale")
{
    Owner o = { .fired = 0 };
    int64_t when = qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + 100000;

    timer_init_ms(&o.timer, QEMU_CLOCK_REALTIME, owner_fired, &o);
    timer_mod(&o.timer, when);
    CHECK((int64_t)timer_expire_time_ns(&o.timer) == when * 1000000);
    timer_del(&o.timer);
    timer_deinit(&o.timer);
}

/* Check that a timer_init timer belongs to the main context, whose
 * aio_poll runs it. */
TEST_OURS(timer_init_main_context, "/timer/embed/timer-init-main-context",
          "QEMU runs these timers in main_loop_wait, not aio_poll")
{
    Owner o = { .fired = 0 };

    timer_init_ns(&o.timer, QEMU_CLOCK_REALTIME, owner_fired, &o);
    timer_mod_ns(&o.timer, qemu_clock_get_ns(QEMU_CLOCK_REALTIME));
    poll_until(qemu_get_aio_context(), &o.fired, 1);
    CHECK(o.fired == 1);
    timer_deinit(&o.timer);
}

/* Check that timer_init_us scales expiry times by 1000. */
TEST(timer_init_us_scale, "/timer/embed/timer-init-us-scale")
{
    Owner o = { .fired = 0 };

    timer_init_us(&o.timer, QEMU_CLOCK_REALTIME, owner_fired, &o);
    timer_mod(&o.timer, 5);
    CHECK((int64_t)timer_expire_time_ns(&o.timer) == 5000);
    timer_del(&o.timer);
    CHECK((int64_t)timer_expire_time_ns(&o.timer) == -1);
    timer_deinit(&o.timer);
    CHECK(o.fired == 0);
}

/* Check that a deleted embedded timer does not fire, and that one set up
 * again after timer_deinit works like a new one. */
TEST(deinit_and_reinit, "/timer/embed/deinit-and-reinit")
{
    AioContext *ctx = qemu_get_aio_context();
    Owner o = { .fired = 0 };

    aio_timer_init(ctx, &o.timer, QEMU_CLOCK_REALTIME, SCALE_NS, owner_fired, &o);
    timer_mod_ns(&o.timer, qemu_clock_get_ns(QEMU_CLOCK_REALTIME));
    timer_del(&o.timer);
    while (aio_poll(ctx, false)) {
    }
    CHECK(o.fired == 0);
    timer_deinit(&o.timer);

    aio_timer_init(ctx, &o.timer, QEMU_CLOCK_REALTIME, SCALE_MS, owner_fired, &o);
    timer_mod(&o.timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME));
    poll_until(ctx, &o.fired, 1);
    CHECK(o.fired == 1);
    timer_deinit(&o.timer);
}

/* Check that timer_mod_anticipate arms a disarmed timer, moves an armed
 * one earlier, and never moves it later. */
TEST(mod_anticipate, "/timer/mod-anticipate/never-later")
{
    Owner o = { .fired = 0 };
    int64_t now = qemu_clock_get_ns(QEMU_CLOCK_REALTIME);
    int64_t hour = 3600LL * 1000000000;

    timer_init_ns(&o.timer, QEMU_CLOCK_REALTIME, owner_fired, &o);
    timer_mod_anticipate_ns(&o.timer, now + 2 * hour);
    CHECK((int64_t)timer_expire_time_ns(&o.timer) == now + 2 * hour);
    timer_mod_anticipate_ns(&o.timer, now + 3 * hour);
    CHECK((int64_t)timer_expire_time_ns(&o.timer) == now + 2 * hour);
    timer_mod_anticipate_ns(&o.timer, now + hour);
    CHECK((int64_t)timer_expire_time_ns(&o.timer) == now + hour);
    timer_del(&o.timer);
    timer_deinit(&o.timer);
}

/* Check that timer_mod_anticipate counts in the timer's scale. */
TEST(mod_anticipate_scaled, "/timer/mod-anticipate/scaled")
{
    Owner o = { .fired = 0 };
    int64_t now_ms = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);

    timer_init_ms(&o.timer, QEMU_CLOCK_REALTIME, owner_fired, &o);
    timer_mod_anticipate(&o.timer, now_ms + 100000);
    CHECK((int64_t)timer_expire_time_ns(&o.timer) == (now_ms + 100000) * 1000000);
    timer_del(&o.timer);
    timer_deinit(&o.timer);
}

static void deinit_armed(void *opaque)
{
    Owner *o = opaque;

    timer_init_ms(&o->timer, QEMU_CLOCK_REALTIME, owner_fired, o);
    timer_mod(&o->timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + 100000);
    timer_deinit(&o->timer);
}

/* Check that timer_deinit of an armed timer aborts. */
TEST(deinit_armed_aborts, "/timer/embed/deinit-armed-aborts")
{
    Owner o = { .fired = 0 };

    CHECK(child_aborts_with(deinit_armed, &o,
        ABORT_MSG("timer_deinit: the timer is still armed",
                  "*timer_deinit: Assertion `ts->expire_time == -1' failed.")));
}

static void mod_uninitialised(void *opaque)
{
    Owner *o = opaque;

    memset(&o->timer, 0, sizeof(o->timer));
    timer_mod_ns(&o->timer, 0);
}

/* Check that arming a timer that was never set up aborts with a message
 * (QEMU dereferences its NULL timer list). */
TEST_OURS(mod_uninitialised_aborts, "/timer/embed/uninitialised-aborts",
          "QEMU crashes on a NULL timer list")
{
    Owner o = { .fired = 0 };

    CHECK(child_aborts_with(mod_uninitialised, &o,
        "timer_mod_ns: the timer was not initialised (timer_init) or was deinitialised"));
}

/* Check that the timer_new family are functions (their addresses can be
 * taken) that make timers of the requested scale. */
TEST(timer_new_functions, "/timer/new/functions")
{
    QEMUTimer *(*make[])(QEMUClockType, QEMUTimerCB *, void *) = {
        timer_new_ns, timer_new_us, timer_new_ms,
    };
    int64_t scale[] = { 1, 1000, 1000000 };
    Owner o = { .fired = 0 };

    for (int i = 0; i < 3; i++) {
        QEMUTimer *t = make[i](QEMU_CLOCK_REALTIME, owner_fired, &o);
        CHECK(!timer_pending(t));
        timer_mod(t, 7);
        CHECK((int64_t)timer_expire_time_ns(t) == 7 * scale[i]);
        timer_free(t);
    }
    CHECK(o.fired == 0);
}

/* qemu_set_fd_handler is a function, not a macro: this fails to compile
 * otherwise. */
static void (*const set_fd_handler)(int, IOHandler *, IOHandler *, void *) =
    qemu_set_fd_handler;

static void note_readable(void *opaque)
{
    int *fds = opaque;
    char c;

    CHECK(read(fds[0], &c, 1) == 1);
    fds[2]++;
}

/* Check that qemu_set_fd_handler, called through its address, registers a
 * handler that aio_poll on the main context runs. */
TEST_OURS(qemu_set_fd_handler_function, "/timer/main-loop/qemu-set-fd-handler",
          "QEMU puts them in iohandler_ctx, run by its main loop")
{
    int fds[3] = { -1, -1, 0 };

    CHECK(pipe(fds) == 0);
    set_fd_handler(fds[0], note_readable, NULL, fds);
    CHECK(write(fds[1], "x", 1) == 1);
    poll_until(qemu_get_aio_context(), &fds[2], 1);
    CHECK(fds[2] == 1);
    set_fd_handler(fds[0], NULL, NULL, NULL);
    close(fds[0]);
    close(fds[1]);
}
