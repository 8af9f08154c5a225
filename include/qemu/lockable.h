/*
 * QemuLockable: one handle for any kind of lock (CoMutex, QemuMutex), so
 * that CoQueue waits and lock guards work with whichever the caller holds.
 * The QemuLockable type itself is in the generated coroutine.h, because
 * qemu_co_queue_wait_impl takes one.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_QEMU_LOCKABLE_H
#define QEMUCORO_QEMU_LOCKABLE_H

#include <stdio.h>
#include <stdlib.h>

#include "qemu/coroutine-core.h"
#include "qemu/thread.h"

typedef void QemuLockUnlockFunc(void *);

/* void * adapters, so that every lock type fits QemuLockable's fields. */
static inline void qemu_lockable_co_mutex_lock(void *x)
{
    qemu_co_mutex_lock(x);
}

static inline void qemu_lockable_co_mutex_unlock(void *x)
{
    qemu_co_mutex_unlock(x);
}

static inline void qemu_lockable_mutex_lock(void *x)
{
    qemu_mutex_lock(x);
}

static inline void qemu_lockable_mutex_unlock(void *x)
{
    qemu_mutex_unlock(x);
}

static inline void qemu_lockable_die(const char *what)
{
    fprintf(stderr, "%s\n", what);
    abort();
}

/*
 * NULL in, NULL out. The test is in a function rather than in the macro
 * so that compilers do not warn that "&lock" can never be NULL.
 */
static inline __attribute__((__always_inline__)) QemuLockable *
qemu_lockable_if_nonnull(const void *x, QemuLockable *lockable)
{
    return x ? lockable : NULL;
}

/* A bare void * can only be NULL: there is no lock type to dispatch on. */
static inline QemuLockable *qemu_lockable_from_void(const void *x)
{
    if (x) {
        qemu_lockable_die("QEMU_MAKE_LOCKABLE: a void * that is not NULL "
                          "names no lock type");
    }
    return NULL;
}

/* A QemuLockable for lock x of the given kind, living in the caller's
 * scope (a compound literal). */
#define QEMU_LOCKABLE_OF_(x, kind) (&(QemuLockable) {       \
        .object = (x),                                      \
        .lock = qemu_lockable_ ## kind ## _lock,            \
        .unlock = qemu_lockable_ ## kind ## _unlock,        \
    })

/**
 * QEMU_MAKE_LOCKABLE - a QemuLockable * for @x, a CoMutex *, QemuMutex *
 * or QemuLockable * (passed through); NULL if @x is NULL, including a
 * literal NULL.
 */
#define QEMU_MAKE_LOCKABLE(x)                                               \
    _Generic((x),                                                           \
             QemuLockable *: (x),                                           \
             void *: qemu_lockable_from_void(x),                            \
             CoMutex *: qemu_lockable_if_nonnull((x),                       \
                                                 QEMU_LOCKABLE_OF_((x), co_mutex)), \
             QemuMutex *: qemu_lockable_if_nonnull((x),                     \
                                                   QEMU_LOCKABLE_OF_((x), mutex)))

/**
 * QEMU_MAKE_LOCKABLE_NONNULL - QEMU_MAKE_LOCKABLE for an @x that is known
 * not to be NULL.
 */
#define QEMU_MAKE_LOCKABLE_NONNULL(x)                                       \
    _Generic((x),                                                           \
             QemuLockable *: (x),                                           \
             CoMutex *: QEMU_LOCKABLE_OF_((x), co_mutex),                   \
             QemuMutex *: QEMU_LOCKABLE_OF_((x), mutex))

static inline void qemu_lockable_lock(QemuLockable *x)
{
    x->lock(x->object);
}

static inline void qemu_lockable_unlock(QemuLockable *x)
{
    x->unlock(x->object);
}

/* The lock guards: take the lock now, release it when the guard variable
 * goes out of scope (__attribute__((cleanup))), however the scope is left. */
static inline QemuLockable *qemu_lockable_auto_lock(QemuLockable *x)
{
    if (!x) {
        qemu_lockable_die("QEMU_LOCK_GUARD: the lock must not be NULL");
    }
    qemu_lockable_lock(x);
    return x;
}

static inline void qemu_lockable_auto_unlock(QemuLockable *x)
{
    if (x) {
        qemu_lockable_unlock(x);
    }
}

static inline void qemu_lockable_guard_cleanup(QemuLockable **guard)
{
    qemu_lockable_auto_unlock(*guard);
}

#define QEMU_LOCKABLE_GLUE__(a, b) a ## b
#define QEMU_LOCKABLE_GLUE_(a, b) QEMU_LOCKABLE_GLUE__(a, b)
#define QEMU_LOCKABLE_GUARD_VAR_ \
    QEMU_LOCKABLE_GLUE_(qemu_lockable_guard_, __COUNTER__)

#define QEMU_LOCKABLE_GUARD_DECL_(var)                                      \
    QemuLockable *var                                                       \
        __attribute__((__cleanup__(qemu_lockable_guard_cleanup), __unused__))

/**
 * QEMU_LOCK_GUARD - lock @x (CoMutex *, QemuMutex *, QemuLockable *) from
 * here to the end of the enclosing scope; a return releases it too.
 */
#define QEMU_LOCK_GUARD(x) \
    QEMU_LOCKABLE_GUARD_DECL_(QEMU_LOCKABLE_GUARD_VAR_) = \
        qemu_lockable_auto_lock(QEMU_MAKE_LOCKABLE((x)))

#define WITH_QEMU_LOCK_GUARD_(x, var)                                       \
    for (QEMU_LOCKABLE_GUARD_DECL_(var) =                                   \
             qemu_lockable_auto_lock(QEMU_MAKE_LOCKABLE_NONNULL((x)));      \
         var;                                                               \
         qemu_lockable_auto_unlock(var), var = NULL)

/**
 * WITH_QEMU_LOCK_GUARD - run the statement or block that follows with @x
 * locked. Leaving it by any path (end, break, continue, return, goto)
 * releases the lock.
 */
#define WITH_QEMU_LOCK_GUARD(x) \
    WITH_QEMU_LOCK_GUARD_((x), QEMU_LOCKABLE_GUARD_VAR_)

#endif
