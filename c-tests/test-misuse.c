/*
 * Misuse aborts with QEMU's message (or one naming the function), never
 * corrupts. Each case runs in a forked child.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/coroutine.h"
#include "harness.h"

#include <pthread.h>

static void coroutine_fn enter_myself(void *opaque)
{
    (void)opaque;
    qemu_coroutine_enter(qemu_coroutine_self());
}

static void run_coroutine(void *entry)
{
    qemu_coroutine_enter(qemu_coroutine_create((CoroutineEntry *)entry, NULL));
}

/* Check that a coroutine entering itself aborts. */
TEST(reenter_self_aborts, "/misuse/reenter-self")
{
    CHECK(child_aborts_with(run_coroutine, (void *)enter_myself,
                            "Co-routine re-entered recursively"));
}

static void coroutine_fn enter_parent(void *opaque)
{
    qemu_coroutine_enter(opaque);
}

static void coroutine_fn spawn_child_entering_me(void *opaque)
{
    (void)opaque;
    qemu_coroutine_enter(qemu_coroutine_create(enter_parent,
                                               qemu_coroutine_self()));
}

/* Check that a child entering its (entered) parent aborts. */
TEST(reenter_parent_aborts, "/misuse/reenter-parent")
{
    CHECK(child_aborts_with(run_coroutine, (void *)spawn_child_entering_me,
                            "Co-routine re-entered recursively"));
}

static void yield_outside(void *opaque)
{
    (void)opaque;
    qemu_coroutine_yield();
}

/* Check that yielding outside any coroutine aborts. */
TEST(yield_outside_aborts, "/misuse/yield-outside-coroutine")
{
    CHECK(child_aborts_with(yield_outside, NULL,
                            "Co-routine is yielding to no one"));
}

static void create_null(void *opaque)
{
    (void)opaque;
    qemu_coroutine_create(NULL, NULL);
}

/* Check that creating with a NULL entry aborts, naming the function. */
TEST_OURS(create_null_entry_aborts, "/misuse/create-null-entry",
          "QEMU does not check for NULL")
{
    CHECK(child_aborts_with(create_null, NULL,
                            "qemu_coroutine_create: entry must not be NULL"));
}

static void enter_null(void *opaque)
{
    (void)opaque;
    qemu_coroutine_enter(NULL);
}

/* Check that entering NULL aborts, naming the function. */
TEST_OURS(enter_null_aborts, "/misuse/enter-null",
          "QEMU does not check for NULL")
{
    CHECK(child_aborts_with(enter_null, NULL,
                            "qemu_coroutine_enter: co must not be NULL"));
}

static void entered_null(void *opaque)
{
    (void)opaque;
    qemu_coroutine_entered(NULL);
}

/* Check that asking whether NULL is entered aborts, naming the function. */
TEST_OURS(entered_null_aborts, "/misuse/entered-null",
          "QEMU does not check for NULL")
{
    CHECK(child_aborts_with(entered_null, NULL,
                            "qemu_coroutine_entered: co must not be NULL"));
}

static void enter_leader(void *opaque)
{
    (void)opaque;
    qemu_coroutine_enter(qemu_coroutine_self());
}

/* Check that entering a thread's leader (not a coroutine) aborts. */
TEST_OURS(enter_leader_aborts, "/misuse/enter-leader",
          "QEMU does not check (it jumps to the leader)")
{
    CHECK(child_aborts_with(enter_leader, NULL,
                            "qemu_coroutine_enter: cannot enter a thread's leader"));
}

static int runs_of_noop;

static void coroutine_fn count_run(void *opaque)
{
    (void)opaque;
    runs_of_noop++;
}

static void enter_after_return(void *opaque)
{
    Coroutine *co = qemu_coroutine_create(count_run, NULL);

    (void)opaque;
    qemu_coroutine_enter(co);
    qemu_coroutine_enter(co);
}

/* Check that entering a coroutine whose entry function has returned (it is
 * back in the pool) aborts instead of running the entry again and pooling
 * the coroutine twice. */
TEST_OURS(enter_terminated_aborts, "/misuse/enter-terminated",
          "QEMU leaves entering a terminated coroutine undefined")
{
    CHECK(child_aborts_with(enter_after_return, NULL,
                            "qemu_coroutine_enter: Co-routine used "
                            "after it terminated (its Coroutine * is stale)"));
}

static void *enter_after_return_on_thread(void *opaque)
{
    enter_after_return(opaque);
    return NULL;
}

static void enter_after_return_then_exit_thread(void *opaque)
{
    pthread_t t;

    pthread_create(&t, NULL, enter_after_return_on_thread, opaque);
    pthread_join(t, NULL);
}

/* Check the same on a thread that exits afterwards: the abort comes at the
 * second enter, before a twice-pooled coroutine could make the thread's
 * free list a cycle for its exit hook to walk. */
TEST_OURS(enter_terminated_on_thread_aborts, "/misuse/enter-terminated-thread",
          "QEMU leaves entering a terminated coroutine undefined")
{
    CHECK(child_aborts_with(enter_after_return_then_exit_thread, NULL,
                            "qemu_coroutine_enter: Co-routine used "
                            "after it terminated (its Coroutine * is stale)"));
}
