/*
 * The event loop: contexts, bottom halves, fd handlers, timers, and
 * coroutines scheduled and woken across threads.
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
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

static void count_cb(void *opaque)
{
    int *count = opaque;
    (*count)++;
}

/* Check that aio_poll(ctx, false) returns false at once with nothing to do. */
TEST(poll_idle_returns_false, "/aio/poll/idle-returns-false")
{
    AioContext *ctx = qemu_get_aio_context();

    CHECK(!aio_poll(ctx, false));
}

/* Check that the main context is the current one on the main thread. */
TEST(main_context_is_current, "/aio/context/main-is-current")
{
    CHECK(qemu_get_aio_context() != NULL);
    CHECK(qemu_get_current_aio_context() == qemu_get_aio_context());
}

static void *current_context_of_thread(void *opaque)
{
    (void)opaque;
    return qemu_get_current_aio_context();
}

static void send_current_context(void *opaque)
{
    AioContext **where = opaque;
    *where = qemu_get_current_aio_context();
}

/* Check that an iothread's context is current on that thread only. */
TEST(iothread_context_is_current, "/aio/context/iothread-is-current")
{
    IOThread *iothread = iothread_new();
    AioContext *ctx = iothread_get_aio_context(iothread);
    AioContext *seen = NULL;
    pthread_t t;
    void *other;

    CHECK(ctx != qemu_get_aio_context());
    aio_bh_schedule_oneshot(ctx, send_current_context, &seen);
    iothread_join(iothread);
    CHECK(seen == ctx);

    pthread_create(&t, NULL, current_context_of_thread, NULL);
    pthread_join(t, &other);
    CHECK(other == NULL);       /* a plain thread runs no context */
}

/* Check that a context survives an extra reference being dropped (a
 * use after free here is what ASan and Valgrind would report). */
TEST(context_ref_unref, "/aio/context/ref-unref")
{
    AioContext *ctx = aio_context_new(NULL);
    int count = 0;
    QEMUBH *bh;

    aio_context_ref(ctx);
    aio_context_unref(ctx);
    bh = aio_bh_new(ctx, count_cb, &count);
    qemu_bh_schedule(bh);
    qemu_bh_delete(bh);
    aio_context_unref(ctx);
    CHECK(count == 0);
}

/* Check that a scheduled bottom half runs once, on the next poll. */
TEST(bh_runs_once, "/aio/bh/runs-once")
{
    AioContext *ctx = qemu_get_aio_context();
    int count = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &count);

    qemu_bh_schedule(bh);
    qemu_bh_schedule(bh);
    CHECK(count == 0);
    CHECK(aio_poll(ctx, true));
    CHECK(count == 1);
    CHECK(!aio_poll(ctx, false));
    qemu_bh_schedule(bh);
    CHECK(aio_poll(ctx, false));
    CHECK(count == 2);
    qemu_bh_delete(bh);
}

/* Check that a cancelled bottom half does not run and can be rescheduled. */
TEST(bh_cancel, "/aio/bh/cancel")
{
    AioContext *ctx = qemu_get_aio_context();
    int count = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &count);

    qemu_bh_schedule(bh);
    qemu_bh_cancel(bh);
    CHECK(!aio_poll(ctx, false));
    CHECK(count == 0);
    qemu_bh_schedule(bh);
    CHECK(aio_poll(ctx, false));
    CHECK(count == 1);
    qemu_bh_delete(bh);
}

/* Check that a deleted bottom half does not run, even if scheduled. */
TEST(bh_delete, "/aio/bh/delete")
{
    AioContext *ctx = qemu_get_aio_context();
    int count = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_cb, &count);

    qemu_bh_schedule(bh);
    qemu_bh_delete(bh);
    CHECK(!aio_poll(ctx, false));
    CHECK(count == 0);
}

typedef struct {
    QEMUBH *bh;
    int count;
} SelfDeleting;

static void delete_self_cb(void *opaque)
{
    SelfDeleting *s = opaque;
    s->count++;
    qemu_bh_delete(s->bh);
}

/* Check that a bottom half may delete itself from its callback. */
TEST(bh_delete_in_callback, "/aio/bh/delete-in-callback")
{
    AioContext *ctx = qemu_get_aio_context();
    SelfDeleting s = { 0 };

    s.bh = aio_bh_new(ctx, delete_self_cb, &s);
    qemu_bh_schedule(s.bh);
    CHECK(aio_poll(ctx, false));
    CHECK(s.count == 1);
    CHECK(!aio_poll(ctx, false));
}

/* Check that a one-shot bottom half runs exactly once. */
TEST(bh_oneshot, "/aio/bh/oneshot")
{
    AioContext *ctx = qemu_get_aio_context();
    int count = 0;

    aio_bh_schedule_oneshot(ctx, count_cb, &count);
    CHECK(aio_poll(ctx, false));
    CHECK(!aio_poll(ctx, false));
    CHECK(count == 1);
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

/* Check that a bottom half scheduled from another thread wakes a blocking
 * aio_poll. */
TEST(bh_from_thread_wakes_poll, "/aio/bh/from-thread-wakes-poll")
{
    AioContext *ctx = qemu_get_aio_context();
    FromThread f = { 0 };
    pthread_t t;

    f.bh = aio_bh_new(ctx, count_cb, &f.count);
    pthread_create(&t, NULL, schedule_after_delay, &f);
    while (f.count == 0) {
        aio_poll(ctx, true);
    }
    pthread_join(t, NULL);
    CHECK(f.count == 1);
    qemu_bh_delete(f.bh);
}

typedef struct {
    int fd;
    int reads;
    char byte;
} Reader;

static void read_one(void *opaque)
{
    Reader *r = opaque;
    CHECK(read(r->fd, &r->byte, 1) == 1);
    r->reads++;
}

/* Check that a read handler runs when its fd becomes readable. */
TEST(fd_handler_read, "/aio/fd-handler/read")
{
    AioContext *ctx = qemu_get_aio_context();
    int fds[2];
    Reader r = { 0 };

    CHECK(pipe2(fds, O_NONBLOCK) == 0);
    r.fd = fds[0];
    aio_set_fd_handler(ctx, fds[0], read_one, NULL, NULL, NULL, &r);
    CHECK(!aio_poll(ctx, false));
    CHECK(write(fds[1], "x", 1) == 1);
    CHECK(aio_poll(ctx, true));
    CHECK(r.reads == 1 && r.byte == 'x');
    aio_set_fd_handler(ctx, fds[0], NULL, NULL, NULL, NULL, NULL);
    close(fds[0]);
    close(fds[1]);
}

static void peek_only(void *opaque)
{
    int *calls = opaque;
    (*calls)++;
}

/* Check that handlers are level-triggered: unconsumed data fires again. */
TEST(fd_handler_level_triggered, "/aio/fd-handler/level-triggered")
{
    AioContext *ctx = qemu_get_aio_context();
    int fds[2];
    int calls = 0;

    CHECK(pipe2(fds, O_NONBLOCK) == 0);
    aio_set_fd_handler(ctx, fds[0], peek_only, NULL, NULL, NULL, &calls);
    CHECK(write(fds[1], "x", 1) == 1);
    CHECK(aio_poll(ctx, false));
    CHECK(aio_poll(ctx, false));
    CHECK(calls == 2);
    aio_set_fd_handler(ctx, fds[0], NULL, NULL, NULL, NULL, NULL);
    close(fds[0]);
    close(fds[1]);
}

/* Check that removing a handler (NULL callbacks) stops its calls. */
TEST(fd_handler_removed, "/aio/fd-handler/removed")
{
    AioContext *ctx = qemu_get_aio_context();
    int fds[2];
    int calls = 0;

    CHECK(pipe2(fds, O_NONBLOCK) == 0);
    aio_set_fd_handler(ctx, fds[0], peek_only, NULL, NULL, NULL, &calls);
    aio_set_fd_handler(ctx, fds[0], NULL, NULL, NULL, NULL, NULL);
    CHECK(write(fds[1], "x", 1) == 1);
    CHECK(!aio_poll(ctx, false));
    CHECK(calls == 0);
    close(fds[0]);
    close(fds[1]);
}

/* Check that a write handler runs while its fd is writable. */
TEST(fd_handler_write, "/aio/fd-handler/write")
{
    AioContext *ctx = qemu_get_aio_context();
    int fds[2];
    int calls = 0;

    CHECK(pipe2(fds, O_NONBLOCK) == 0);
    aio_set_fd_handler(ctx, fds[1], NULL, peek_only, NULL, NULL, &calls);
    CHECK(aio_poll(ctx, true));
    CHECK(calls == 1);
    aio_set_fd_handler(ctx, fds[1], NULL, NULL, NULL, NULL, NULL);
    close(fds[0]);
    close(fds[1]);
}

/* Check that an armed timer fires, no earlier than its expiry. */
TEST(timer_fires, "/aio/timer/fires")
{
    AioContext *ctx = qemu_get_aio_context();
    int count = 0;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS, count_cb, &count);
    int64_t start = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);

    timer_mod(t, start + 20);
    CHECK(timer_pending(t));
    while (count == 0) {
        aio_poll(ctx, true);
    }
    CHECK(qemu_clock_get_ms(QEMU_CLOCK_REALTIME) >= start + 20);
    CHECK(!timer_pending(t));
    CHECK(count == 1);
    timer_free(t);
}

typedef struct {
    QEMUTimer *timer;
    atomic_int fired;
    atomic_bool gave_up;
} ArmFromThread;

static void note_fired(void *opaque)
{
    ArmFromThread *a = opaque;
    atomic_fetch_add(&a->fired, 1);
}

static void wake_anyway(void *opaque)
{
    (void)opaque;
}

/*
 * Arms the timer to expire at once, then gives the loop 5 s to run it; if
 * it does not, a bottom half wakes the loop so that the test fails rather
 * than hangs (a bottom half notifies the context by itself).
 */
static void *arm_from_thread(void *opaque)
{
    ArmFromThread *a = opaque;
    usleep(20 * 1000);
    timer_mod_ns(a->timer, qemu_clock_get_ns(QEMU_CLOCK_REALTIME));
    for (int i = 0; i < 500 && !atomic_load(&a->fired); i++) {
        usleep(10 * 1000);
    }
    if (!atomic_load(&a->fired)) {
        atomic_store(&a->gave_up, true);
        aio_bh_schedule_oneshot(qemu_get_aio_context(), wake_anyway, NULL);
    }
    return NULL;
}

/*
 * Check that a timer armed from another thread wakes a blocking aio_poll
 * that has nothing else to wait for (the loop looks at its timer lists
 * without their locks, so the arming side must notify it).
 */
TEST(timer_from_thread_wakes_poll, "/aio/timer/from-thread-wakes-poll")
{
    AioContext *ctx = qemu_get_aio_context();
    ArmFromThread a = { 0 };
    pthread_t th;

    a.timer = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_NS, note_fired, &a);
    pthread_create(&th, NULL, arm_from_thread, &a);
    while (!atomic_load(&a.fired) && !atomic_load(&a.gave_up)) {
        aio_poll(ctx, true);
    }
    pthread_join(th, NULL);
    aio_poll(ctx, false);           /* runs wake_anyway if it was needed */
    CHECK(!atomic_load(&a.gave_up));
    CHECK(atomic_load(&a.fired) == 1);
    timer_free(a.timer);
}

/* Check that a deleted timer does not fire. */
TEST(timer_deleted_does_not_fire, "/aio/timer/deleted-does-not-fire")
{
    AioContext *ctx = qemu_get_aio_context();
    int count = 0, other = 0;
    QEMUTimer *t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS, count_cb, &count);
    QEMUTimer *later = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS, count_cb, &other);
    int64_t now = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);

    timer_mod(t, now + 5);
    timer_mod(later, now + 30);
    timer_del(t);
    CHECK(!timer_pending(t));
    while (other == 0) {
        aio_poll(ctx, true);
    }
    CHECK(count == 0);
    timer_free(t);
    timer_free(later);
}

typedef struct {
    AioContext *home;
    AioContext *other;
    long tid[2];
    bool done;
} Hopper;

static void coroutine_fn hop_to_iothread_and_back(void *opaque)
{
    Hopper *h = opaque;

    h->tid[0] = harness_gettid();
    aio_co_reschedule_self(h->other);
    h->tid[1] = harness_gettid();
    CHECK(qemu_get_current_aio_context() == h->other);
    CHECK(qemu_coroutine_get_aio_context(qemu_coroutine_self()) == h->other);
    aio_co_reschedule_self(h->home);
    CHECK(harness_gettid() == h->tid[0]);
    h->done = true;
}

/* Check that a coroutine moves to another thread's context and back
 * (aio_co_reschedule_self, which aio_co_schedules from a bottom half). */
TEST(co_schedule_across_threads, "/aio/co/schedule-across-threads")
{
    IOThread *iothread = iothread_new();
    Hopper h = { .home = qemu_get_aio_context(),
                 .other = iothread_get_aio_context(iothread) };

    qemu_coroutine_enter(qemu_coroutine_create(hop_to_iothread_and_back, &h));
    while (!h.done) {
        aio_poll(h.home, true);
    }
    CHECK(h.tid[1] != h.tid[0]);
    iothread_join(iothread);
}

typedef struct {
    long tid;
    AioContext *ctx;
} Where;

static void coroutine_fn note_where_after_yield(void *opaque)
{
    Where *w = opaque;
    qemu_coroutine_yield();
    w->tid = harness_gettid();
    w->ctx = qemu_get_current_aio_context();
}

/* Check that aio_co_schedule from the main thread makes an iothread enter
 * the coroutine, on the iothread. */
TEST(co_schedule_to_iothread, "/aio/co/schedule-to-iothread")
{
    IOThread *iothread = iothread_new();
    AioContext *ctx = iothread_get_aio_context(iothread);
    Where w = { 0 };
    Coroutine *co = qemu_coroutine_create(note_where_after_yield, &w);

    qemu_coroutine_enter(co);
    aio_co_schedule(ctx, co);
    iothread_join(iothread);     /* runs what was queued, then stops */
    CHECK(w.tid != 0 && w.tid != harness_gettid());
    CHECK(w.ctx == ctx);
}

typedef struct {
    AioContext *ctx;
    int value;                  /* written before the schedule, read by co */
    int seen;
    atomic_int ran;
} BusyLoop;

static void coroutine_fn read_value(void *opaque)
{
    BusyLoop *b = opaque;

    b->seen = b->value;
    atomic_store_explicit(&b->ran, 1, memory_order_relaxed);
}

static void *poll_until_ran(void *opaque)
{
    BusyLoop *b = opaque;

    qemu_set_current_aio_context(b->ctx);   /* this thread's own loop */
    while (!atomic_load_explicit(&b->ran, memory_order_relaxed)) {
        aio_poll(b->ctx, false);
    }
    return NULL;
}

/*
 * Check that a coroutine scheduled into a loop that polls without blocking
 * (so no wake-up is ever written) sees what the scheduler wrote before
 * aio_co_schedule: the schedule alone orders the two (under
 * ThreadSanitizer, a missing edge is a reported race).
 */
TEST(co_schedule_to_busy_loop, "/aio/co/schedule-to-busy-loop")
{
    BusyLoop b = { .ctx = aio_context_new(NULL) };
    Coroutine *co = qemu_coroutine_create(read_value, &b);
    pthread_t t;

    pthread_create(&t, NULL, poll_until_ran, &b);
    b.value = 42;
    aio_co_schedule(b.ctx, co);
    pthread_join(t, NULL);
    CHECK(b.seen == 42);
    aio_context_unref(b.ctx);
}

typedef struct {
    AioContext *iothread_ctx;
    long main_tid;
    int wakes;
    bool done;
} Waker;

#define WAKES 1000

static void wake_cb(void *opaque)
{
    aio_co_wake(opaque);
}

static void coroutine_fn woken_from_iothread(void *opaque)
{
    Waker *w = opaque;

    for (w->wakes = 0; w->wakes < WAKES; w->wakes++) {
        aio_bh_schedule_oneshot(w->iothread_ctx, wake_cb, qemu_coroutine_self());
        qemu_coroutine_yield();
        CHECK(harness_gettid() == w->main_tid);
    }
    w->done = true;
}

/* Check that aio_co_wake from another thread re-enters a coroutine in its
 * home context, on its home thread. */
TEST(co_wake_across_threads, "/aio/co/wake-across-threads")
{
    IOThread *iothread = iothread_new();
    Waker w = { .iothread_ctx = iothread_get_aio_context(iothread),
                .main_tid = harness_gettid() };

    qemu_coroutine_enter(qemu_coroutine_create(woken_from_iothread, &w));
    while (!w.done) {
        aio_poll(qemu_get_aio_context(), true);
    }
    CHECK(w.wakes == WAKES);
    iothread_join(iothread);
}

typedef struct {
    Coroutine *sleeper;
    char order[8];
    int n;
} Order;

static void coroutine_fn sleeper(void *opaque)
{
    Order *o = opaque;
    o->order[o->n++] = 'a';
    qemu_coroutine_yield();
    o->order[o->n++] = 'c';
}

static void coroutine_fn waker(void *opaque)
{
    Order *o = opaque;
    aio_co_wake(o->sleeper);
    o->order[o->n++] = 'b';
    qemu_coroutine_yield();
    o->order[o->n++] = 'd';
}

/* Check that aio_co_wake inside a coroutine of the same context runs the
 * woken coroutine right after the waker yields, not inside the call. */
TEST(co_wake_in_coroutine_runs_after_yield, "/aio/co/wake-in-coroutine-runs-after-yield")
{
    Order o = { 0 };
    Coroutine *w = qemu_coroutine_create(waker, &o);

    o.sleeper = qemu_coroutine_create(sleeper, &o);
    qemu_coroutine_enter(o.sleeper);
    qemu_coroutine_enter(w);
    CHECK(strcmp(o.order, "abc") == 0);
    qemu_coroutine_enter(w);
    CHECK(strcmp(o.order, "abcd") == 0);
}

static void coroutine_fn yield_once(void *opaque)
{
    int *runs = opaque;
    qemu_coroutine_yield();
    (*runs)++;
}

/* Check that aio_co_enter from outside any coroutine runs the coroutine at
 * once in the caller's context, and aio_co_schedule only on the next poll. */
TEST(co_enter_now_schedule_later, "/aio/co/enter-now-schedule-later")
{
    AioContext *ctx = qemu_get_aio_context();
    int runs = 0;
    Coroutine *co = qemu_coroutine_create(yield_once, &runs);

    aio_co_enter(ctx, co);
    aio_co_schedule(ctx, co);
    CHECK(runs == 0);
    CHECK(aio_poll(ctx, false));
    CHECK(runs == 1);
}

static void schedule_twice(void *opaque)
{
    Coroutine *co = qemu_coroutine_create(yield_once, opaque);

    qemu_coroutine_enter(co);
    aio_co_schedule(qemu_get_aio_context(), co);
    aio_co_schedule(qemu_get_aio_context(), co);
}

/* Check that scheduling a coroutine twice aborts with QEMU's message. */
TEST(co_schedule_twice_aborts, "/aio/co/schedule-twice-aborts")
{
    int runs = 0;

    CHECK(child_aborts_with(schedule_twice, &runs,
          "aio_co_schedule: Co-routine was already scheduled in 'aio_co_schedule'"));
}

static void enter_scheduled(void *opaque)
{
    Coroutine *co = qemu_coroutine_create(yield_once, opaque);

    qemu_coroutine_enter(co);
    aio_co_schedule(qemu_get_aio_context(), co);
    qemu_coroutine_enter(co);
}

/* Check that entering a scheduled coroutine aborts with QEMU's message. */
TEST(co_enter_scheduled_aborts, "/aio/co/enter-scheduled-aborts")
{
    int runs = 0;

    CHECK(child_aborts_with(enter_scheduled, &runs,
          "qemu_aio_coroutine_enter: Co-routine was already scheduled in 'aio_co_schedule'"));
}

static void poll_null(void *opaque)
{
    (void)opaque;
    aio_poll(NULL, false);
}

/* Check that a NULL context aborts with a message naming the function. */
TEST_OURS(poll_null_aborts, "/aio/poll/null-aborts",
          "QEMU does not check for NULL")
{
    CHECK(child_aborts_with(poll_null, NULL, "aio_poll: ctx must not be NULL"));
}

static void coroutine_fn yield_then_mark(void *opaque)
{
    bool *ran = opaque;
    qemu_coroutine_yield();
    *ran = true;
}

static void coroutine_fn wake_other(void *opaque)
{
    aio_co_wake(opaque);
}

/*
 * Check that the very first coroutines of a program's main thread (in a
 * fresh process, before anything touched the event loop) run in the main
 * context: one woken by another with aio_co_wake runs as soon as the waker
 * yields, without waiting for aio_poll.
 */
CHILD(first_enter_records_main_context, "first-enter-main-context")
{
    bool ran = false;
    Coroutine *sleeper = qemu_coroutine_create(yield_then_mark, &ran);

    qemu_coroutine_enter(sleeper);
    qemu_coroutine_enter(qemu_coroutine_create(wake_other, sleeper));
    exit(ran ? 0 : 1);
}

TEST(first_enter_main_context, "/aio/context/first-enter-is-main")
{
    CHECK(exec_child_succeeds("first-enter-main-context", NULL));
}

static void coroutine_fn yield_then_note_context(void *opaque)
{
    AioContext **seen = opaque;
    qemu_coroutine_yield();
    *seen = qemu_coroutine_get_aio_context(qemu_coroutine_self());
}

/*
 * Check that a coroutine woken during qemu_aio_coroutine_enter(ctx, co)
 * runs in ctx, as co does: the enter's whole wake-up chain records the
 * context the enter was given, not the calling thread's.
 */
TEST(woken_record_enter_context, "/aio/co/woken-record-enter-context")
{
    AioContext *other = aio_context_new(NULL);
    AioContext *seen = NULL;
    Coroutine *sleeper = qemu_coroutine_create(yield_then_note_context, &seen);

    qemu_coroutine_enter(sleeper);      /* records the main context */
    qemu_aio_coroutine_enter(other, qemu_coroutine_create(wake_other, sleeper));
    CHECK(seen == other);
    aio_context_unref(other);
}
