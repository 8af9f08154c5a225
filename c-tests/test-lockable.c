/*
 * QemuLockable: QEMU_MAKE_LOCKABLE for CoMutex, QemuMutex and NULL, and the
 * QEMU_LOCK_GUARD / WITH_QEMU_LOCK_GUARD scope guards.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <string.h>

#include "qemu/coroutine.h"
#include "qemu/lockable.h"
#include "harness.h"

_Static_assert(sizeof(QemuLockable) == 3 * sizeof(void *), "QemuLockable size");
_Static_assert(_Alignof(QemuLockable) == _Alignof(void *), "QemuLockable alignment");

static QemuMutex qmutex;
static CoMutex comutex;
static char trace[64];

static void note(const char *what)
{
    strcat(trace, what);
}

static bool qmutex_is_held(void)
{
    if (qemu_mutex_trylock(&qmutex) == -EBUSY) {
        return true;
    }
    qemu_mutex_unlock(&qmutex);
    return false;
}

/* Check that NULL, typed or literal, makes a NULL lockable. */
TEST(null_makes_null, "/lockable/null")
{
    CoMutex *no_comutex = NULL;
    QemuMutex *no_qmutex = NULL;

    CHECK(QEMU_MAKE_LOCKABLE(no_comutex) == NULL);
    CHECK(QEMU_MAKE_LOCKABLE(no_qmutex) == NULL);
    CHECK(QEMU_MAKE_LOCKABLE(NULL) == NULL);
}

/* Check that a QemuLockable * passes through unchanged. */
TEST(lockable_passes_through, "/lockable/passthrough")
{
    QemuLockable *lockable;

    qemu_mutex_init(&qmutex);
    lockable = QEMU_MAKE_LOCKABLE(&qmutex);
    CHECK(lockable != NULL);
    CHECK(lockable->object == &qmutex);
    CHECK(QEMU_MAKE_LOCKABLE(lockable) == lockable);
    qemu_mutex_destroy(&qmutex);
}

/* Check that a QemuMutex lockable locks and unlocks the mutex. */
TEST(qemu_mutex_lockable, "/lockable/qemu-mutex")
{
    QemuLockable *lockable;

    qemu_mutex_init(&qmutex);
    lockable = QEMU_MAKE_LOCKABLE(&qmutex);
    qemu_lockable_lock(lockable);
    CHECK(qmutex_is_held());
    qemu_lockable_unlock(lockable);
    CHECK(!qmutex_is_held());
    qemu_mutex_destroy(&qmutex);
}

static bool locked;
static int done_count;

static void coroutine_fn lockable_lock_yield_unlock(void *opaque)
{
    QemuLockable *lockable = opaque;

    qemu_lockable_lock(lockable);
    CHECK(!locked);
    locked = true;
    qemu_coroutine_yield();
    locked = false;
    qemu_lockable_unlock(lockable);
    done_count++;
}

/*
 * Check that a CoMutex lockable excludes and hands over as the CoMutex
 * does (the hand-off timeline of /co-mutex/hand-off).
 */
TEST(co_mutex_lockable, "/lockable/co-mutex")
{
    QemuLockable *lockable;
    Coroutine *c1, *c2;

    qemu_co_mutex_init(&comutex);
    lockable = QEMU_MAKE_LOCKABLE(&comutex);
    c1 = qemu_coroutine_create(lockable_lock_yield_unlock, lockable);
    c2 = qemu_coroutine_create(lockable_lock_yield_unlock, lockable);
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

static int guarded_return(bool early)
{
    QEMU_LOCK_GUARD(&qmutex);

    CHECK(qmutex_is_held());
    if (early) {
        return 1;
    }
    return 2;
}

/* Check that QEMU_LOCK_GUARD holds the lock to the end of the scope and
 * releases it on every return. */
TEST(lock_guard_releases_on_return, "/lockable/guard/return")
{
    qemu_mutex_init(&qmutex);
    CHECK(guarded_return(true) == 1);
    CHECK(!qmutex_is_held());
    CHECK(guarded_return(false) == 2);
    CHECK(!qmutex_is_held());
    qemu_mutex_destroy(&qmutex);
}

/* Check that WITH_QEMU_LOCK_GUARD runs its body once with the lock held
 * and releases it after. */
TEST(with_guard_runs_body_once, "/lockable/with-guard/once")
{
    int runs = 0;

    qemu_mutex_init(&qmutex);
    WITH_QEMU_LOCK_GUARD(&qmutex) {
        CHECK(qmutex_is_held());
        runs++;
    }
    CHECK(runs == 1);
    CHECK(!qmutex_is_held());
    qemu_mutex_destroy(&qmutex);
}

/* Check that leaving WITH_QEMU_LOCK_GUARD by break releases the lock. */
TEST(with_guard_releases_on_break, "/lockable/with-guard/break")
{
    qemu_mutex_init(&qmutex);
    WITH_QEMU_LOCK_GUARD(&qmutex) {
        if (qmutex_is_held()) {
            break;
        }
        CHECK(false);
    }
    CHECK(!qmutex_is_held());
    qemu_mutex_destroy(&qmutex);
}

static int with_guard_return(void)
{
    WITH_QEMU_LOCK_GUARD(&qmutex) {
        return 7;
    }
    return 0;
}

/* Check that returning from inside WITH_QEMU_LOCK_GUARD releases the lock. */
TEST(with_guard_releases_on_return, "/lockable/with-guard/return")
{
    qemu_mutex_init(&qmutex);
    CHECK(with_guard_return() == 7);
    CHECK(!qmutex_is_held());
    qemu_mutex_destroy(&qmutex);
}

static void coroutine_fn guard_and_yield(void *opaque)
{
    QEMU_LOCK_GUARD(&comutex);

    note(opaque);
    qemu_coroutine_yield();
}   /* released here, before the coroutine terminates */

static void coroutine_fn with_guard_note(void *opaque)
{
    WITH_QEMU_LOCK_GUARD(&comutex) {
        qemu_co_mutex_assert_locked(&comutex);
        note(opaque);
    }
}

/*
 * Check that the guards work with a CoMutex: the second coroutine waits
 * until the first one's guard goes out of scope.
 */
TEST(guards_with_co_mutex, "/lockable/guard/co-mutex")
{
    Coroutine *c1;

    trace[0] = '\0';
    qemu_co_mutex_init(&comutex);
    c1 = qemu_coroutine_create(guard_and_yield, "1");
    qemu_coroutine_enter(c1);
    qemu_coroutine_enter(qemu_coroutine_create(with_guard_note, "2"));
    CHECK(strcmp(trace, "1") == 0);
    qemu_coroutine_enter(c1);
    CHECK(strcmp(trace, "12") == 0);
}

static void guard_null(void *opaque)
{
    QemuMutex *none = opaque;
    QEMU_LOCK_GUARD(none);
}

/* Check that a lock guard on a NULL lock aborts with a message. */
TEST_OURS(guard_on_null_aborts, "/lockable/misuse/guard-null",
          "QEMU does not check for NULL")
{
    CHECK(child_aborts_with(guard_null, NULL,
                            "QEMU_LOCK_GUARD: the lock must not be NULL"));
}
