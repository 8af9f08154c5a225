/*
 * CoRwlock: shared readers, exclusive writers, QEMU's fairness (a queued
 * writer holds back later readers), upgrade, downgrade, misuse.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <string.h>

#include "qemu/coroutine.h"
#include "harness.h"

/* Our header's layout (QEMU's CoRwlock embeds a CoMutex and is larger). */
#if UINTPTR_MAX == UINT64_MAX && !defined(VS_QEMU)
_Static_assert(sizeof(CoRwlock) == 24, "CoRwlock size");
#endif
_Static_assert(_Alignof(CoRwlock) == _Alignof(void *), "CoRwlock alignment");

static CoRwlock rwlock;
static char trace[64];

static void note(const char *what)
{
    strcat(trace, what);
}

static void reset(void)
{
    trace[0] = '\0';
    qemu_co_rwlock_init(&rwlock);
}

static Coroutine *start(CoroutineEntry *entry, const char *name)
{
    Coroutine *co = qemu_coroutine_create(entry, (void *)name);
    qemu_coroutine_enter(co);
    return co;
}

/* Read-locks, notes its name, yields, unlocks. */
static void coroutine_fn read_and_yield(void *opaque)
{
    qemu_co_rwlock_rdlock(&rwlock);
    note(opaque);
    qemu_coroutine_yield();
    qemu_co_rwlock_unlock(&rwlock);
}

/* Write-locks, notes its name, yields, unlocks. */
static void coroutine_fn write_and_yield(void *opaque)
{
    qemu_co_rwlock_wrlock(&rwlock);
    note(opaque);
    qemu_coroutine_yield();
    qemu_co_rwlock_unlock(&rwlock);
}

static void coroutine_fn read_once(void *opaque)
{
    qemu_co_rwlock_rdlock(&rwlock);
    note(opaque);
    qemu_co_rwlock_unlock(&rwlock);
}

static void coroutine_fn write_once(void *opaque)
{
    qemu_co_rwlock_wrlock(&rwlock);
    note(opaque);
    qemu_co_rwlock_unlock(&rwlock);
}

/* Check that readers hold the lock together. */
TEST(readers_share, "/co-rwlock/readers-share")
{
    Coroutine *r1, *r2;

    reset();
    r1 = start(read_and_yield, "1");
    r2 = start(read_and_yield, "2");
    CHECK(strcmp(trace, "12") == 0);
    qemu_coroutine_enter(r1);
    qemu_coroutine_enter(r2);
}

/* Check that a writer waits for the readers, and gets in when the last
 * one leaves. */
TEST(writer_waits_for_readers, "/co-rwlock/writer-waits")
{
    Coroutine *r1, *r2;

    reset();
    r1 = start(read_and_yield, "r");
    r2 = start(read_and_yield, "r");
    start(write_once, "W");
    qemu_coroutine_enter(r1);
    CHECK(strcmp(trace, "rr") == 0);
    qemu_coroutine_enter(r2);
    CHECK(strcmp(trace, "rrW") == 0);
}

/* Check that readers and writers wait for a writer, in arrival order. */
TEST(others_wait_for_writer, "/co-rwlock/reader-waits")
{
    Coroutine *w;

    reset();
    w = start(write_and_yield, "1");
    start(read_once, "2");
    start(write_once, "3");
    start(read_once, "4");
    CHECK(strcmp(trace, "1") == 0);
    qemu_coroutine_enter(w);
    CHECK(strcmp(trace, "1234") == 0);
}

/*
 * Check that a queued writer holds back readers that come after it, even
 * though only readers hold the lock:
 *
 * | r1     | w              | r2                  |
 * |--------+----------------+---------------------|
 * | rdlock |                |                     |
 * | yield  |                |                     |
 * |        | wrlock: queued |                     |
 * |        |                | rdlock: queued      |
 * | unlock |                |                     |
 * |        | <owns>, unlock |                     |
 * |        |                | <owns>, unlock      |
 */
TEST(queued_writer_holds_back_readers, "/co-rwlock/writer-first")
{
    Coroutine *r1;

    reset();
    r1 = start(read_and_yield, "1");
    start(write_once, "W");
    start(read_once, "2");
    CHECK(strcmp(trace, "1") == 0);
    qemu_coroutine_enter(r1);
    CHECK(strcmp(trace, "1W2") == 0);
}

static void coroutine_fn read_yield_upgrade(void *opaque)
{
    qemu_co_rwlock_rdlock(&rwlock);
    qemu_coroutine_yield();
    qemu_co_rwlock_upgrade(&rwlock);
    note(opaque);
    qemu_co_rwlock_unlock(&rwlock);
}

/*
 * Check that an upgrading reader, even the only one, waits its turn
 * behind a queued writer:
 *
 * | c1             | c2             |
 * |----------------+----------------|
 * | rdlock         |                |
 * | yield          |                |
 * |                | wrlock: queued |
 * | upgrade: queued|                |
 * |                | <owns>         |
 * |                | yield          |
 * |                | unlock         |
 * | <owns>, unlock |                |
 */
TEST(upgrade_waits_behind_writer, "/co-rwlock/upgrade")
{
    Coroutine *c1, *c2;

    reset();
    c1 = start(read_yield_upgrade, "1");
    c2 = start(write_and_yield, "2");
    CHECK(trace[0] == '\0');
    qemu_coroutine_enter(c1);      /* c1 queues, c2 runs until its yield */
    CHECK(strcmp(trace, "2") == 0);
    qemu_coroutine_enter(c2);
    CHECK(strcmp(trace, "21") == 0);
}

static void coroutine_fn read_upgrade(void *opaque)
{
    qemu_co_rwlock_rdlock(&rwlock);
    qemu_co_rwlock_upgrade(&rwlock);
    note(opaque);
    qemu_coroutine_yield();
    qemu_co_rwlock_unlock(&rwlock);
}

/* Check that the sole reader with nobody queued upgrades without waiting,
 * and then excludes readers. */
TEST(sole_reader_upgrades_at_once, "/co-rwlock/upgrade-at-once")
{
    Coroutine *c;

    reset();
    c = start(read_upgrade, "U");
    start(read_once, "r");
    CHECK(strcmp(trace, "U") == 0);
    qemu_coroutine_enter(c);
    CHECK(strcmp(trace, "Ur") == 0);
}

static void coroutine_fn read_unlock_yield(void *opaque)
{
    qemu_co_rwlock_rdlock(&rwlock);
    qemu_coroutine_yield();
    qemu_co_rwlock_unlock(&rwlock);
    note(opaque);
    qemu_coroutine_yield();
}

static void coroutine_fn write_downgrade_unlock(void *opaque)
{
    qemu_co_rwlock_wrlock(&rwlock);
    qemu_co_rwlock_downgrade(&rwlock);
    note(opaque);
    qemu_co_rwlock_unlock(&rwlock);
}

/*
 * Check that a downgrade with readers and writers queued lets the reader
 * in and everyone finishes (QEMU's scenario that once hung):
 *
 * | c1     | c2             | c3             | c4             |
 * |--------+----------------+----------------+----------------|
 * | rdlock |                |                |                |
 * | yield  |                |                |                |
 * |        | wrlock: queued |                |                |
 * |        |                | rdlock: queued |                |
 * |        |                |                | wrlock: queued |
 * | unlock |                |                |                |
 * | yield  |                |                |                |
 * |        | <owns>         |                |                |
 * |        | downgrade      |                |                |
 * |        | unlock         |                |                |
 * |        |                | <owns>, unlock |                |
 * |        |                |                | <owns>, unlock |
 */
TEST(downgrade_lets_everyone_through, "/co-rwlock/downgrade")
{
    Coroutine *c1;

    reset();
    c1 = start(read_unlock_yield, "1");
    start(write_downgrade_unlock, "2");
    start(read_once, "3");
    start(write_once, "4");
    CHECK(trace[0] == '\0');
    qemu_coroutine_enter(c1);
    CHECK(strcmp(trace, "1234") == 0);
    qemu_coroutine_enter(c1);
}

static void coroutine_fn write_yield_downgrade_yield(void *opaque)
{
    qemu_co_rwlock_wrlock(&rwlock);
    qemu_coroutine_yield();
    qemu_co_rwlock_downgrade(&rwlock);
    note(opaque);                  /* not blocked by the queued writer */
    qemu_coroutine_yield();
    qemu_co_rwlock_unlock(&rwlock);
}

/*
 * Check that downgrade never waits, and admits every reader queued before
 * the next writer, one waking the next:
 *
 * | w          | r1     | r2     | w2             |
 * |------------+--------+--------+----------------|
 * | wrlock     |        |        |                |
 * | yield      |        |        |                |
 * |            | queued | queued | queued         |
 * | downgrade  |        |        |                |
 * | yield      |        |        |                |
 * |            | <owns> |        |                |
 * |            | unlock | <owns> |                |
 * |            |        | unlock |                |
 * | unlock     |        |        |                |
 * |            |        |        | <owns>, unlock |
 */
TEST(downgrade_admits_queued_readers, "/co-rwlock/downgrade-readers")
{
    Coroutine *w;

    reset();
    w = start(write_yield_downgrade_yield, "D");
    start(read_once, "1");
    start(read_once, "2");
    start(write_once, "W");
    qemu_coroutine_enter(w);
    CHECK(strcmp(trace, "D12") == 0);
    qemu_coroutine_enter(w);
    CHECK(strcmp(trace, "D12W") == 0);
}

/* Misuse, each in a child process. */

static void run_in_coroutine(void *entry)
{
    qemu_co_rwlock_init(&rwlock);
    qemu_coroutine_enter(qemu_coroutine_create((CoroutineEntry *)entry, NULL));
}

static void coroutine_fn unlock_unheld(void *opaque)
{
    (void)opaque;
    qemu_co_rwlock_unlock(&rwlock);
}

/* Check that unlocking a lock nobody holds aborts. */
TEST(unlock_unheld_aborts, "/co-rwlock/misuse/unlock-unheld")
{
    CHECK(child_aborts_with(run_in_coroutine, (void *)unlock_unheld,
                            ABORT_MSG("qemu_co_rwlock_unlock: the lock is not held",
                                      "*qemu_co_rwlock_unlock: Assertion `lock->owners == -1' failed.")));
}

static void unlock_outside(void *opaque)
{
    (void)opaque;
    qemu_co_rwlock_init(&rwlock);
    qemu_co_rwlock_unlock(&rwlock);
}

/* Check that unlocking outside coroutine context aborts. */
TEST(unlock_outside_aborts, "/co-rwlock/misuse/unlock-outside")
{
    CHECK(child_aborts_with(unlock_outside, NULL,
                            ABORT_MSG("qemu_co_rwlock_unlock: called outside coroutine "
                                      "context",
                                      "*qemu_co_rwlock_unlock: Assertion `qemu_in_coroutine()' failed.")));
}

static void coroutine_fn downgrade_read_lock(void *opaque)
{
    (void)opaque;
    qemu_co_rwlock_rdlock(&rwlock);
    qemu_co_rwlock_downgrade(&rwlock);
}

/* Check that downgrading a read lock aborts. */
TEST(downgrade_read_lock_aborts, "/co-rwlock/misuse/downgrade-reader")
{
    CHECK(child_aborts_with(run_in_coroutine, (void *)downgrade_read_lock,
                            ABORT_MSG("qemu_co_rwlock_downgrade: the lock is not held "
                                      "for writing",
                                      "*qemu_co_rwlock_downgrade: Assertion `lock->owners == -1' failed.")));
}

static void coroutine_fn upgrade_unheld(void *opaque)
{
    (void)opaque;
    qemu_co_rwlock_upgrade(&rwlock);
}

/* Check that upgrading without a read lock aborts. */
TEST(upgrade_unheld_aborts, "/co-rwlock/misuse/upgrade-unheld")
{
    CHECK(child_aborts_with(run_in_coroutine, (void *)upgrade_unheld,
                            ABORT_MSG("qemu_co_rwlock_upgrade: the lock is not held "
                                      "for reading",
                                      "*qemu_co_rwlock_upgrade: Assertion `lock->owners > 0' failed.")));
}

static void coroutine_fn unlock_others_read_lock(void *opaque)
{
    (void)opaque;
    qemu_coroutine_enter(qemu_coroutine_create(read_and_yield, "r"));
    qemu_co_rwlock_unlock(&rwlock);
}

/* Check that releasing another coroutine's read lock aborts (the caller
 * holds no lock at all). */
TEST(unlock_others_lock_aborts, "/co-rwlock/misuse/unlock-not-holder")
{
    CHECK(child_aborts_with(run_in_coroutine, (void *)unlock_others_read_lock,
                            ABORT_MSG("qemu_co_rwlock_unlock: the calling coroutine "
                                      "holds no lock",
                                      /* QEMU: when the holder terminates */
                                      "*qemu_aio_coroutine_enter: Assertion `!to->locks_held' failed.")));
}

static void coroutine_fn rdlock_and_return(void *opaque)
{
    (void)opaque;
    qemu_co_rwlock_rdlock(&rwlock);
}

/* Check that a coroutine terminating with a read lock held aborts. */
TEST(terminate_holding_aborts, "/co-rwlock/misuse/terminate-holding")
{
    CHECK(child_aborts_with(run_in_coroutine, (void *)rdlock_and_return,
                            ABORT_MSG("Co-routine terminated while holding 1 lock(s)",
                                      "*qemu_aio_coroutine_enter: Assertion `!to->locks_held' failed.")));
}
