/*
 * CoMutex on one thread: mutual exclusion, FIFO hand-off, lock counting,
 * misuse. (test-co-mutex-threads.c contends for one across threads.)
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <string.h>

#include "qemu/coroutine.h"
#include "harness.h"

#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(CoMutex) == 48, "CoMutex size");
#endif
_Static_assert(_Alignof(CoMutex) == _Alignof(void *), "CoMutex alignment");

static CoMutex mutex;
static char trace[64];

static void note(const char *what)
{
    strcat(trace, what);
}

static void reset(void)
{
    trace[0] = '\0';
    qemu_co_mutex_init(&mutex);
}

static void coroutine_fn lock_unlock_twice(void *opaque)
{
    (void)opaque;
    qemu_co_mutex_lock(&mutex);
    qemu_co_mutex_assert_locked(&mutex);
    qemu_co_mutex_unlock(&mutex);
    qemu_co_mutex_lock(&mutex);
    qemu_co_mutex_unlock(&mutex);
    note("done");
}

/* Check that an uncontended mutex is taken and released without waiting. */
TEST(uncontended_lock_unlock, "/co-mutex/uncontended")
{
    reset();
    qemu_coroutine_enter(qemu_coroutine_create(lock_unlock_twice, NULL));
    CHECK(strcmp(trace, "done") == 0);
}

static bool locked;
static int done_count;

static void coroutine_fn lock_yield_unlock(void *opaque)
{
    (void)opaque;
    qemu_co_mutex_lock(&mutex);
    CHECK(!locked);
    locked = true;
    qemu_coroutine_yield();
    locked = false;
    qemu_co_mutex_unlock(&mutex);
    done_count++;
}

/*
 * Check that unlock hands the mutex to the waiter, which then runs as soon
 * as the unlocker terminates:
 *
 * | c1           | c2             |
 * |--------------+----------------|
 * | lock         |                |
 * | yield        |                |
 * |              | lock: <queued> |
 * | unlock, ends |                |
 * |              | <owns mutex>   |
 * |              | yield          |
 * |              | unlock, ends   |
 */
TEST(unlock_hands_over_to_waiter, "/co-mutex/hand-off")
{
    Coroutine *c1 = qemu_coroutine_create(lock_yield_unlock, NULL);
    Coroutine *c2 = qemu_coroutine_create(lock_yield_unlock, NULL);

    reset();
    locked = false;
    done_count = 0;
    qemu_coroutine_enter(c1);
    CHECK(locked);
    qemu_coroutine_enter(c2);
    qemu_coroutine_enter(c1);
    CHECK(done_count == 1);
    CHECK(locked);
    qemu_coroutine_enter(c2);
    CHECK(done_count == 2);
    CHECK(!locked);
}

/* The start of /co-mutex/hand-off as a program's first coroutine code. */
CHILD(first_hand_off, "co-mutex-first-hand-off")
{
    Coroutine *c1 = qemu_coroutine_create(lock_yield_unlock, NULL);
    Coroutine *c2 = qemu_coroutine_create(lock_yield_unlock, NULL);

    qemu_coroutine_enter(c1);
    qemu_coroutine_enter(c2);
    qemu_coroutine_enter(c1);
    exit(done_count == 1 && locked ? 0 : 1);
}

/*
 * Check that the hand-off works in a program that never asked for the main
 * context before its first qemu_coroutine_enter (that enter binds it, so
 * the waiter is known to run in the unlocker's context).
 */
TEST(hand_off_in_fresh_program, "/co-mutex/hand-off-in-fresh-program")
{
    CHECK(exec_child_succeeds("co-mutex-first-hand-off", "QEMUCORO_TEST=1"));
}

static void coroutine_fn lock_note_unlock(void *opaque)
{
    qemu_co_mutex_lock(&mutex);
    note(opaque);
    qemu_co_mutex_unlock(&mutex);
}

static void coroutine_fn hold_until_reentered(void *opaque)
{
    qemu_co_mutex_lock(&mutex);
    qemu_coroutine_yield();
    note(opaque);
    qemu_co_mutex_unlock(&mutex);
}

/* Check that waiters get the mutex in the order they asked for it. */
TEST(waiters_served_in_arrival_order, "/co-mutex/fifo")
{
    Coroutine *holder = qemu_coroutine_create(hold_until_reentered, "0");
    const char *arrivals[] = { "3", "1", "4", "2" };

    reset();
    qemu_coroutine_enter(holder);
    for (int i = 0; i < 4; i++) {
        qemu_coroutine_enter(qemu_coroutine_create(lock_note_unlock,
                                                   (void *)arrivals[i]));
    }
    CHECK(trace[0] == '\0');
    qemu_coroutine_enter(holder);
    CHECK(strcmp(trace, "03142") == 0);
}

static void coroutine_fn unlock_and_relock(void *opaque)
{
    qemu_co_mutex_lock(&mutex);
    qemu_coroutine_yield();
    qemu_co_mutex_unlock(&mutex);
    qemu_co_mutex_lock(&mutex);        /* must queue behind the waiter */
    note(opaque);
    qemu_co_mutex_unlock(&mutex);
}

/*
 * Check that a coroutine that unlocks and locks again cannot barge in
 * ahead of a waiter:
 *
 * | c0                    | c1             |
 * |-----------------------+----------------|
 * | lock                  |                |
 * | yield                 |                |
 * |                       | lock: <queued> |
 * | unlock                |                |
 * | lock: <queued>        |                |
 * |                       | <owns>, unlock |
 * | <owns>, unlock        |                |
 */
TEST(relock_queues_behind_waiter, "/co-mutex/no-barging")
{
    Coroutine *c0 = qemu_coroutine_create(unlock_and_relock, "0");

    reset();
    qemu_coroutine_enter(c0);
    qemu_coroutine_enter(qemu_coroutine_create(lock_note_unlock, "1"));
    qemu_coroutine_enter(c0);
    CHECK(strcmp(trace, "10") == 0);
}

#define WORKERS 64
#define ROUNDS 200

typedef struct {
    Coroutine *ready[WORKERS];   /* coroutines to re-enter, FIFO */
    int head, tail;
    int inside;                  /* coroutines in the critical section */
    int counter;
    int last;                    /* who held the mutex last */
    int out_of_turn;
} Contention;

static Contention cont;

static void coroutine_fn contend(void *opaque)
{
    int me = (int)(intptr_t)opaque;

    for (int i = 0; i < ROUNDS; i++) {
        int value;

        qemu_co_mutex_lock(&mutex);
        cont.inside++;
        CHECK(cont.inside == 1);
        if ((cont.last + 1) % WORKERS != me) {
            cont.out_of_turn++;
        }
        cont.last = me;
        value = cont.counter;
        /* let the others run (they queue) while we hold the mutex */
        cont.ready[cont.tail++ % WORKERS] = qemu_coroutine_self();
        qemu_coroutine_yield();
        cont.counter = value + 1;
        cont.inside--;
        qemu_co_mutex_unlock(&mutex);
    }
}

/*
 * Check that 64 coroutines on one thread, each taking the mutex 200 times
 * and yielding while they hold it, never overlap, lose no increment, and
 * take turns strictly round robin (FIFO hand-off).
 */
TEST(many_coroutines_contend, "/co-mutex/contention")
{
    memset(&cont, 0, sizeof(cont));
    cont.last = -1;
    reset();
    for (intptr_t i = 0; i < WORKERS; i++) {
        qemu_coroutine_enter(qemu_coroutine_create(contend, (void *)i));
    }
    while (cont.head != cont.tail) {
        qemu_coroutine_enter(cont.ready[cont.head++ % WORKERS]);
    }
    CHECK(cont.counter == WORKERS * ROUNDS);
    CHECK(cont.inside == 0);
    CHECK(cont.out_of_turn == 0);
}

/* Misuse, each in a child process. */

static void run_in_coroutine(void *entry)
{
    qemu_co_mutex_init(&mutex);
    qemu_coroutine_enter(qemu_coroutine_create((CoroutineEntry *)entry, NULL));
}

static void coroutine_fn unlock_unlocked(void *opaque)
{
    (void)opaque;
    qemu_co_mutex_unlock(&mutex);
}

/* Check that unlocking an unlocked mutex aborts. */
TEST(unlock_unlocked_aborts, "/co-mutex/misuse/unlock-unlocked")
{
    CHECK(child_aborts_with(run_in_coroutine, (void *)unlock_unlocked,
                            ABORT_MSG("qemu_co_mutex_unlock: the mutex is not locked",
                                      "*qemu_co_mutex_unlock: Assertion `mutex->locked' failed.")));
}

static void coroutine_fn lock_and_yield(void *opaque)
{
    (void)opaque;
    qemu_co_mutex_lock(&mutex);
    qemu_coroutine_yield();
}

static void coroutine_fn unlock_others(void *opaque)
{
    (void)opaque;
    qemu_coroutine_enter(qemu_coroutine_create(lock_and_yield, NULL));
    qemu_co_mutex_unlock(&mutex);
}

/* Check that unlocking a mutex another coroutine holds aborts. */
TEST(unlock_by_non_holder_aborts, "/co-mutex/misuse/unlock-not-holder")
{
    CHECK(child_aborts_with(run_in_coroutine, (void *)unlock_others,
                            ABORT_MSG("qemu_co_mutex_unlock: the mutex is held by "
                                      "another coroutine",
                                      "*qemu_co_mutex_unlock: Assertion `mutex->holder == self' failed.")));
}

static void lock_unlock_outside(void *opaque)
{
    (void)opaque;
    qemu_co_mutex_init(&mutex);
    qemu_co_mutex_lock(&mutex);        /* uncontended: allowed, as in QEMU */
    qemu_co_mutex_unlock(&mutex);
}

/* Check that unlocking outside coroutine context aborts. */
TEST(unlock_outside_coroutine_aborts, "/co-mutex/misuse/unlock-outside")
{
    CHECK(child_aborts_with(lock_unlock_outside, NULL,
                            ABORT_MSG("qemu_co_mutex_unlock: called outside coroutine "
                                      "context",
                                      "*qemu_co_mutex_unlock: Assertion `qemu_in_coroutine()' failed.")));
}

static void coroutine_fn assert_unlocked(void *opaque)
{
    (void)opaque;
    qemu_co_mutex_assert_locked(&mutex);
}

/* Check that qemu_co_mutex_assert_locked aborts on an unlocked mutex. */
TEST(assert_locked_unlocked_aborts, "/co-mutex/misuse/assert-unlocked")
{
    CHECK(child_aborts_with(run_in_coroutine, (void *)assert_unlocked,
                            ABORT_MSG("qemu_co_mutex_assert_locked: the mutex is not "
                                      "held by the calling coroutine",
                                      "*qemu_co_mutex_assert_locked: Assertion `qatomic_read(&mutex->locked) && mutex->holder == qemu_coroutine_self()' failed.")));
}

static void coroutine_fn assert_others(void *opaque)
{
    (void)opaque;
    qemu_coroutine_enter(qemu_coroutine_create(lock_and_yield, NULL));
    qemu_co_mutex_assert_locked(&mutex);
}

/* Check that qemu_co_mutex_assert_locked aborts when another coroutine
 * holds the mutex. */
TEST(assert_locked_other_holder_aborts, "/co-mutex/misuse/assert-not-holder")
{
    CHECK(child_aborts_with(run_in_coroutine, (void *)assert_others,
                            ABORT_MSG("qemu_co_mutex_assert_locked: the mutex is not "
                                      "held by the calling coroutine",
                                      "*qemu_co_mutex_assert_locked: Assertion `qatomic_read(&mutex->locked) && mutex->holder == qemu_coroutine_self()' failed.")));
}

static void coroutine_fn lock_and_return(void *opaque)
{
    (void)opaque;
    qemu_co_mutex_lock(&mutex);
}

/* Check that a coroutine terminating with the mutex held aborts. */
TEST(terminate_holding_aborts, "/co-mutex/misuse/terminate-holding")
{
    CHECK(child_aborts_with(run_in_coroutine, (void *)lock_and_return,
                            ABORT_MSG("Co-routine terminated while holding 1 lock(s)",
                                      "*qemu_aio_coroutine_enter: Assertion `!to->locks_held' failed.")));
}

static void lock_null(void *opaque)
{
    (void)opaque;
    qemu_co_mutex_lock(NULL);
}

/* Check that a NULL mutex aborts, naming the function. */
TEST_OURS(null_mutex_aborts, "/co-mutex/misuse/null", "QEMU does not check for NULL")
{
    CHECK(child_aborts_with(lock_null, NULL,
                            "qemu_co_mutex_lock: mutex must not be NULL"));
}
