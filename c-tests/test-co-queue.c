/*
 * CoQueue: wait, next, restart_all, enter_next, enter_all, empty, the
 * WAIT_FRONT flag, and the order in which woken coroutines run.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <string.h>

#include "qemu/coroutine.h"
#include "harness.h"

_Static_assert(sizeof(CoQueue) == 2 * sizeof(void *), "CoQueue size");
_Static_assert(_Alignof(CoQueue) == _Alignof(void *), "CoQueue alignment");

static CoQueue queue, queue2;
static char trace[64];

static void note(const char *what)
{
    strcat(trace, what);
}

static void reset(void)
{
    trace[0] = '\0';
    qemu_co_queue_init(&queue);
    qemu_co_queue_init(&queue2);
}

/* Waits on the queue once, then notes its name (the opaque). */
static void coroutine_fn waiter(void *opaque)
{
    qemu_co_queue_wait(&queue, NULL);
    note(opaque);
}

static void coroutine_fn front_waiter(void *opaque)
{
    qemu_co_queue_wait_flags(&queue, NULL, CO_QUEUE_WAIT_FRONT);
    note(opaque);
}

static void start(CoroutineEntry *entry, const char *name)
{
    qemu_coroutine_enter(qemu_coroutine_create(entry, (void *)name));
}

/* Check that a new queue is empty and a waiting coroutine makes it not. */
TEST(empty_until_waited_on, "/co-queue/empty")
{
    reset();
    CHECK(qemu_co_queue_empty(&queue));
    start(waiter, "a");
    CHECK(!qemu_co_queue_empty(&queue));
    CHECK(qemu_co_enter_next(&queue, NULL));
    CHECK(qemu_co_queue_empty(&queue));
    CHECK(strcmp(trace, "a") == 0);
}

static void coroutine_fn wake_two_then_finish(void *opaque)
{
    (void)opaque;
    CHECK(qemu_co_queue_next(&queue));
    note("1");
    CHECK(qemu_co_queue_next(&queue));
    note("2");
}

/*
 * Check that qemu_co_queue_next wakes the oldest waiter first, and that
 * woken coroutines run only once the waker terminates.
 */
TEST(next_wakes_oldest_after_waker_ends, "/co-queue/next/fifo")
{
    reset();
    start(waiter, "a");
    start(waiter, "b");
    start(waiter, "c");
    start(wake_two_then_finish, NULL);
    CHECK(strcmp(trace, "12ab") == 0);
    CHECK(qemu_co_enter_next(&queue, NULL));
    CHECK(strcmp(trace, "12abc") == 0);
}

static void coroutine_fn wake_one_and_yield(void *opaque)
{
    (void)opaque;
    CHECK(qemu_co_queue_next(&queue));
    note("1");
    qemu_coroutine_yield();
    note("2");
}

/* Check that a woken coroutine runs as soon as the waker yields. */
TEST(next_runs_woken_after_waker_yields, "/co-queue/next/after-yield")
{
    Coroutine *waker = qemu_coroutine_create(wake_one_and_yield, NULL);

    reset();
    start(waiter, "a");
    qemu_coroutine_enter(waker);
    CHECK(strcmp(trace, "1a") == 0);
    qemu_coroutine_enter(waker);
    CHECK(strcmp(trace, "1a2") == 0);
}

static void coroutine_fn next_on_empty(void *opaque)
{
    *(bool *)opaque = qemu_co_queue_next(&queue);
}

/* Check that qemu_co_queue_next on an empty queue returns false. */
TEST(next_on_empty_is_false, "/co-queue/next/empty")
{
    bool woke = true;

    reset();
    qemu_coroutine_enter(qemu_coroutine_create(next_on_empty, &woke));
    CHECK(!woke);
    CHECK(!qemu_co_enter_next(&queue, NULL));
}

/* Check that CO_QUEUE_WAIT_FRONT queues ahead of earlier waiters. */
TEST(wait_front_goes_first, "/co-queue/wait-front")
{
    reset();
    start(waiter, "a");
    start(waiter, "b");
    start(front_waiter, "c");
    qemu_co_enter_all(&queue, NULL);
    CHECK(strcmp(trace, "cab") == 0);
}

static void coroutine_fn restart_all_then_finish(void *opaque)
{
    (void)opaque;
    qemu_co_queue_restart_all(&queue);
    CHECK(qemu_co_queue_empty(&queue));
    note("W");
}

/*
 * Check that qemu_co_queue_restart_all empties the queue and the woken
 * run oldest first, after the waker.
 */
TEST(restart_all_wakes_everyone_in_order, "/co-queue/restart-all")
{
    reset();
    start(waiter, "a");
    start(waiter, "b");
    start(waiter, "c");
    start(restart_all_then_finish, NULL);
    CHECK(strcmp(trace, "Wabc") == 0);
    CHECK(qemu_co_queue_empty(&queue));
}

/* Check that outside coroutines, qemu_co_enter_next runs the woken
 * coroutine before it returns, one waiter per call. */
TEST(enter_next_outside_runs_at_once, "/co-queue/enter-next/outside")
{
    reset();
    start(waiter, "a");
    start(waiter, "b");
    CHECK(qemu_co_enter_next(&queue, NULL));
    CHECK(strcmp(trace, "a") == 0);
    CHECK(qemu_co_enter_next(&queue, NULL));
    CHECK(strcmp(trace, "ab") == 0);
    CHECK(!qemu_co_enter_next(&queue, NULL));
}

/* A lock that only writes L and U into the trace. */
static void fake_lock(void *opaque)
{
    (void)opaque;
    note("L");
}

static void fake_unlock(void *opaque)
{
    (void)opaque;
    note("U");
}

static QemuLockable fake = {
    .object = &fake, .lock = fake_lock, .unlock = fake_unlock,
};

static void coroutine_fn wait_holding_fake(void *opaque)
{
    qemu_co_queue_wait(&queue, &fake);     /* U ... L */
    note(opaque);
    qemu_lockable_unlock(&fake);           /* U */
}

/*
 * Check that wait releases its lock while asleep and takes it back, and
 * that qemu_co_enter_next releases the caller's lock around the wake-up:
 *
 * | main                 | co                          |
 * |----------------------+-----------------------------|
 * |                      | wait: unlock (U), yield     |
 * | enter_next: unlock U |                             |
 * |                      | wait: lock (L); a; unlock U |
 * | enter_next: lock L   |                             |
 */
TEST(enter_next_releases_lock_around_wake, "/co-queue/enter-next/lock")
{
    reset();
    start(wait_holding_fake, "a");
    CHECK(strcmp(trace, "U") == 0);
    CHECK(qemu_co_enter_next(&queue, &fake));
    CHECK(strcmp(trace, "UULaUL") == 0);
}

/* Check that qemu_co_enter_all wakes each waiter with the lock released. */
TEST(enter_all_releases_lock_for_each, "/co-queue/enter-all")
{
    reset();
    start(wait_holding_fake, "a");
    start(wait_holding_fake, "b");
    trace[0] = '\0';
    qemu_co_enter_all(&queue, &fake);
    CHECK(strcmp(trace, "ULaULULbUL") == 0);
    CHECK(qemu_co_queue_empty(&queue));
}

static QemuMutex qmutex;

static void coroutine_fn wait_on_qemu_mutex(void *opaque)
{
    qemu_mutex_lock(&qmutex);
    qemu_co_queue_wait(&queue, &qmutex);
    /* woken by the main thread, which released the mutex for us */
    CHECK(qemu_mutex_trylock(&qmutex) == -EBUSY);
    note(opaque);
    qemu_mutex_unlock(&qmutex);
}

/* Check that qemu_co_queue_wait and qemu_co_enter_next take a QemuMutex. */
TEST(wait_with_qemu_mutex, "/co-queue/qemu-mutex")
{
    reset();
    qemu_mutex_init(&qmutex);
    start(wait_on_qemu_mutex, "a");
    qemu_mutex_lock(&qmutex);
    CHECK(qemu_co_enter_next(&queue, &qmutex));
    CHECK(strcmp(trace, "a") == 0);
    CHECK(qemu_mutex_trylock(&qmutex) == -EBUSY);  /* ours again */
    qemu_mutex_unlock(&qmutex);
    qemu_mutex_destroy(&qmutex);
}

static CoMutex comutex;

static void coroutine_fn wait_on_co_mutex(void *opaque)
{
    qemu_co_mutex_lock(&comutex);
    qemu_co_queue_wait(&queue, &comutex);
    qemu_co_mutex_assert_locked(&comutex);
    note(opaque);
    qemu_co_mutex_unlock(&comutex);
}

static void coroutine_fn signal_under_co_mutex(void *opaque)
{
    qemu_co_mutex_lock(&comutex);          /* free: the waiter released it */
    note(opaque);
    CHECK(qemu_co_queue_next(&queue));
    qemu_co_mutex_unlock(&comutex);
}

/*
 * Check that a CoMutex is released during the wait and held again when
 * the waiter returns from it.
 */
TEST(wait_with_co_mutex, "/co-queue/co-mutex")
{
    reset();
    qemu_co_mutex_init(&comutex);
    start(wait_on_co_mutex, "a");
    start(signal_under_co_mutex, "b");
    CHECK(strcmp(trace, "ba") == 0);
}

static void coroutine_fn note_and_wake_queue2(void *opaque)
{
    qemu_co_queue_wait(&queue, NULL);
    note(opaque);
    qemu_co_queue_next(&queue2);
}

static void coroutine_fn wait_on_queue2(void *opaque)
{
    qemu_co_queue_wait(&queue2, NULL);
    note(opaque);
}

static void coroutine_fn restart_all_and_yield(void *opaque)
{
    qemu_co_queue_restart_all(&queue);
    note(opaque);
    qemu_coroutine_yield();
}

/*
 * Check that wake-ups run depth first: what a woken coroutine wakes runs
 * right after it, before the next coroutine its own waker woke.
 *
 * | A               | B             | C         | D           |
 * |-----------------+---------------+-----------+-------------|
 * | restart_all B C |               |           |             |
 * | yield           |               |           |             |
 * |                 | wake D, ends  |           |             |
 * |                 |               |           | runs, ends  |
 * |                 |               | runs, ends|             |
 */
TEST(wakeups_run_depth_first, "/co-queue/depth-first")
{
    Coroutine *a = qemu_coroutine_create(restart_all_and_yield, "A");

    reset();
    start(note_and_wake_queue2, "B");
    start(waiter, "C");
    start(wait_on_queue2, "D");
    qemu_coroutine_enter(a);
    CHECK(strcmp(trace, "ABDC") == 0);
    qemu_coroutine_enter(a);
}

static void wait_outside(void *opaque)
{
    (void)opaque;
    qemu_co_queue_init(&queue);
    qemu_co_queue_wait(&queue, NULL);
}

/* Check that waiting outside coroutine context aborts. */
TEST(wait_outside_coroutine_aborts, "/co-queue/misuse/wait-outside")
{
    CHECK(child_aborts_with(wait_outside, NULL,
                            ABORT_MSG("qemu_co_queue_wait: called outside coroutine context",
                                      "Co-routine is yielding to no one")));
}

static void next_null(void *opaque)
{
    (void)opaque;
    qemu_co_queue_next(NULL);
}

/* Check that a NULL queue aborts, naming the function. */
TEST_OURS(null_queue_aborts, "/co-queue/misuse/null", "QEMU does not check for NULL")
{
    CHECK(child_aborts_with(next_null, NULL,
                            "qemu_co_queue_next: queue must not be NULL"));
}
