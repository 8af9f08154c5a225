/*
 * QEMU's thread primitives (qemu/thread.h) as thin inline wrappers over
 * pthreads and futexes (what needs more of POSIX than strict ISO C
 * headers declare is in the library: src/thread.rs): QemuMutex (also a QemuLockable next to CoMutex),
 * QemuRecMutex, QemuCond, QemuSemaphore, QemuEvent, QemuSpin and
 * QemuThread. Misuse and pthread failures print one line and abort, as in
 * QEMU. Not here: QemuLockCnt, thread affinity and naming, QSP profiling.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_QEMU_THREAD_H
#define QEMUCORO_QEMU_THREAD_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu/atomic.h"
#include "qemu/futex.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct QemuMutex {
    pthread_mutex_t lock;
    bool initialized;
} QemuMutex;

/* Misuse and pthread failures end the process, as in QEMU. */
static inline void qemu_mutex_die(const char *func, const char *what)
{
    fprintf(stderr, "%s: %s\n", func, what);
    abort();
}

static inline void qemu_mutex_check(QemuMutex *mutex, const char *func)
{
    if (!mutex) {
        qemu_mutex_die(func, "mutex must not be NULL");
    }
    if (!mutex->initialized) {
        qemu_mutex_die(func, "mutex used before qemu_mutex_init");
    }
}

static inline void qemu_mutex_init(QemuMutex *mutex)
{
    int err;

    if (!mutex) {
        qemu_mutex_die(__func__, "mutex must not be NULL");
    }
    err = pthread_mutex_init(&mutex->lock, NULL);
    if (err) {
        qemu_mutex_die(__func__, strerror(err));
    }
    mutex->initialized = true;
}

static inline void qemu_mutex_destroy(QemuMutex *mutex)
{
    int err;

    qemu_mutex_check(mutex, __func__);
    mutex->initialized = false;
    err = pthread_mutex_destroy(&mutex->lock);
    if (err) {
        qemu_mutex_die(__func__, strerror(err));
    }
}

static inline void qemu_mutex_lock(QemuMutex *mutex)
{
    int err;

    qemu_mutex_check(mutex, __func__);
    err = pthread_mutex_lock(&mutex->lock);
    if (err) {
        qemu_mutex_die(__func__, strerror(err));
    }
}

/* 0 if the mutex was taken, -EBUSY if another holder has it. */
static inline int qemu_mutex_trylock(QemuMutex *mutex)
{
    int err;

    qemu_mutex_check(mutex, __func__);
    err = pthread_mutex_trylock(&mutex->lock);
    if (err == EBUSY) {
        return -EBUSY;
    }
    if (err) {
        qemu_mutex_die(__func__, strerror(err));
    }
    return 0;
}

static inline void qemu_mutex_unlock(QemuMutex *mutex)
{
    int err;

    qemu_mutex_check(mutex, __func__);
    err = pthread_mutex_unlock(&mutex->lock);
    if (err) {
        qemu_mutex_die(__func__, strerror(err));
    }
}

/* --- QemuRecMutex: a mutex its holder may take again ------------------ */

typedef struct QemuRecMutex {
    QemuMutex m;
} QemuRecMutex;

/* A mutex its holder may lock again, unlocking as often (in the library). */
void qemu_rec_mutex_init(QemuRecMutex *mutex);

static inline void qemu_rec_mutex_destroy(QemuRecMutex *mutex)
{
    qemu_mutex_destroy(&mutex->m);
}

static inline void qemu_rec_mutex_lock(QemuRecMutex *mutex)
{
    qemu_mutex_lock(&mutex->m);
}

static inline int qemu_rec_mutex_trylock(QemuRecMutex *mutex)
{
    return qemu_mutex_trylock(&mutex->m);
}

static inline void qemu_rec_mutex_unlock(QemuRecMutex *mutex)
{
    qemu_mutex_unlock(&mutex->m);
}

/* --- QemuCond: a condition variable on CLOCK_MONOTONIC ---------------- */

typedef struct QemuCond {
    pthread_cond_t cond;
    bool initialized;
} QemuCond;

static inline void qemu_cond_check(QemuCond *cond, const char *func)
{
    if (!cond) {
        qemu_mutex_die(func, "condition variable must not be NULL");
    }
    if (!cond->initialized) {
        qemu_mutex_die(func, "condition variable used before qemu_cond_init");
    }
}

/* Timed waits run on CLOCK_MONOTONIC: a change of the date moves no deadline. */
void qemu_cond_init(QemuCond *cond);

static inline void qemu_cond_destroy(QemuCond *cond)
{
    int err;

    qemu_cond_check(cond, __func__);
    cond->initialized = false;
    err = pthread_cond_destroy(&cond->cond);
    if (err) {
        qemu_mutex_die(__func__, strerror(err));
    }
}

static inline void qemu_cond_signal(QemuCond *cond)
{
    int err;

    qemu_cond_check(cond, __func__);
    err = pthread_cond_signal(&cond->cond);
    if (err) {
        qemu_mutex_die(__func__, strerror(err));
    }
}

static inline void qemu_cond_broadcast(QemuCond *cond)
{
    int err;

    qemu_cond_check(cond, __func__);
    err = pthread_cond_broadcast(&cond->cond);
    if (err) {
        qemu_mutex_die(__func__, strerror(err));
    }
}

static inline void qemu_cond_wait(QemuCond *cond, QemuMutex *mutex)
{
    int err;

    qemu_cond_check(cond, __func__);
    qemu_mutex_check(mutex, __func__);
    err = pthread_cond_wait(&cond->cond, &mutex->lock);
    if (err) {
        qemu_mutex_die(__func__, strerror(err));
    }
}

/* Waits at most `ms` milliseconds; false if the time ran out. */
bool qemu_cond_timedwait(QemuCond *cond, QemuMutex *mutex, int ms);

/* --- QemuSemaphore: a counting semaphore ------------------------------ */

typedef struct QemuSemaphore {
    QemuMutex mutex;
    QemuCond cond;
    unsigned int count;
} QemuSemaphore;

static inline void qemu_sem_init(QemuSemaphore *sem, int init)
{
    if (!sem) {
        qemu_mutex_die(__func__, "semaphore must not be NULL");
    }
    if (init < 0) {
        qemu_mutex_die(__func__, "initial count must not be negative");
    }
    qemu_mutex_init(&sem->mutex);
    qemu_cond_init(&sem->cond);
    sem->count = (unsigned int)init;
}

static inline void qemu_sem_destroy(QemuSemaphore *sem)
{
    qemu_cond_destroy(&sem->cond);
    qemu_mutex_destroy(&sem->mutex);
}

static inline void qemu_sem_post(QemuSemaphore *sem)
{
    qemu_mutex_lock(&sem->mutex);
    if (sem->count == UINT_MAX) {
        qemu_mutex_die(__func__, "semaphore count overflow");
    }
    sem->count++;
    qemu_cond_signal(&sem->cond);
    qemu_mutex_unlock(&sem->mutex);
}

/* Takes one count, waiting at most `ms` ms for it: 0, or -1 on timeout. */
int qemu_sem_timedwait(QemuSemaphore *sem, int ms);

static inline void qemu_sem_wait(QemuSemaphore *sem)
{
    qemu_mutex_lock(&sem->mutex);
    while (sem->count == 0) {
        qemu_cond_wait(&sem->cond, &sem->mutex);
    }
    sem->count--;
    qemu_mutex_unlock(&sem->mutex);
}

/* --- QemuEvent: a manual-reset event on a futex ------------------------ */

/*
 * One word: SET (0), FREE (1: not set, nobody asleep) or BUSY (-1: not
 * set, someone may sleep on the futex). Setting an event that is already
 * set costs one load; only a set that finds BUSY makes a system call.
 * Reset ORs in FREE, which turns SET into FREE and leaves BUSY as it is.
 */
#define QEMU_EVENT_SET  0u
#define QEMU_EVENT_FREE 1u
#define QEMU_EVENT_BUSY ((unsigned)-1)

typedef struct QemuEvent {
    unsigned value;
    bool initialized;
} QemuEvent;

static inline void qemu_event_check(QemuEvent *ev, const char *func)
{
    if (!ev) {
        qemu_mutex_die(func, "event must not be NULL");
    }
    if (!ev->initialized) {
        qemu_mutex_die(func, "event used before qemu_event_init");
    }
}

static inline void qemu_event_init(QemuEvent *ev, bool init)
{
    if (!ev) {
        qemu_mutex_die(__func__, "event must not be NULL");
    }
    ev->value = init ? QEMU_EVENT_SET : QEMU_EVENT_FREE;
    ev->initialized = true;
}

static inline void qemu_event_destroy(QemuEvent *ev)
{
    qemu_event_check(ev, __func__);
    ev->initialized = false;
}

/* Wakes every waiter; the event stays set until qemu_event_reset. */
static inline void qemu_event_set(QemuEvent *ev)
{
    qemu_event_check(ev, __func__);
    /* Whatever the caller wrote before setting is seen by the woken waiter. */
    smp_mb();
    if (qatomic_read(&ev->value) != QEMU_EVENT_SET) {
        unsigned old = qatomic_xchg(&ev->value, QEMU_EVENT_SET);

        if (old == QEMU_EVENT_BUSY) {
            qemu_futex_wake(&ev->value, INT_MAX);
        }
    }
}

static inline void qemu_event_reset(QemuEvent *ev)
{
    qemu_event_check(ev, __func__);
    qatomic_or(&ev->value, QEMU_EVENT_FREE);
    /* A later check of the condition cannot be read before the reset. */
    smp_mb__after_rmw();
}

/*
 * Returns at once if the event is set; otherwise sleeps until a
 * qemu_event_set. That set releases the waiter even if a reset follows
 * before it runs: the waiter does not look at the event again.
 */
static inline void qemu_event_wait(QemuEvent *ev)
{
    unsigned value;

    qemu_event_check(ev, __func__);
    value = qatomic_load_acquire(&ev->value);
    if (value == QEMU_EVENT_SET) {
        return;
    }
    /* Mark the event BUSY (unless it was set meanwhile) so a set wakes us. */
    if (value == QEMU_EVENT_FREE &&
        qatomic_cmpxchg(&ev->value, QEMU_EVENT_FREE, QEMU_EVENT_BUSY)
            == QEMU_EVENT_SET) {
        return;
    }
    /* The futex re-checks BUSY in the kernel: a set in between is not lost. */
    qemu_futex_wait(&ev->value, QEMU_EVENT_BUSY);
}

/* --- QemuSpin: a test-and-set spinlock --------------------------------- */

typedef struct QemuSpin {
    int value;
} QemuSpin;

static inline void qemu_spin_init(QemuSpin *spin)
{
    qatomic_set(&spin->value, 0);
}

static inline void qemu_spin_destroy(QemuSpin *spin)
{
    (void)spin;
}

static inline void qemu_spin_lock(QemuSpin *spin)
{
    while (__atomic_exchange_n(&spin->value, 1, __ATOMIC_ACQUIRE)) {
        while (qatomic_read(&spin->value)) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#else
            barrier();
#endif
        }
    }
}

/* As in QEMU: true if the lock was busy (not taken), false if taken. */
static inline bool qemu_spin_trylock(QemuSpin *spin)
{
    return __atomic_exchange_n(&spin->value, 1, __ATOMIC_ACQUIRE);
}

static inline bool qemu_spin_locked(QemuSpin *spin)
{
    return qatomic_read(&spin->value);
}

static inline void qemu_spin_unlock(QemuSpin *spin)
{
    qatomic_store_release(&spin->value, 0);
}

/* --- QemuThread -------------------------------------------------------- */

#define QEMU_THREAD_JOINABLE 0
#define QEMU_THREAD_DETACHED 1

typedef struct QemuThread {
    pthread_t thread;
} QemuThread;

/*
 * Starts start_routine(arg) on a new thread with every signal blocked but
 * the synchronous ones a fault raises (SIGSEGV, SIGFPE, SIGILL), as QEMU
 * does: signals go to the threads that unblock them. A DETACHED thread
 * cannot be joined. `name` is accepted and not applied (QEMU names
 * threads only with -name debug-threads=on).
 */
void qemu_thread_create(QemuThread *thread, const char *name,
                        void *(*start_routine)(void *), void *arg, int mode);

/* Waits for a JOINABLE thread to end; returns what it returned. */
static inline void *qemu_thread_join(QemuThread *thread)
{
    void *ret;
    int err;

    if (!thread) {
        qemu_mutex_die(__func__, "thread must not be NULL");
    }
    err = pthread_join(thread->thread, &ret);
    if (err) {
        qemu_mutex_die(__func__, strerror(err));
    }
    return ret;
}

static inline void qemu_thread_get_self(QemuThread *thread)
{
    thread->thread = pthread_self();
}

static inline bool qemu_thread_is_self(QemuThread *thread)
{
    return pthread_equal(pthread_self(), thread->thread);
}

static inline void qemu_thread_exit(void *retval)
{
    pthread_exit(retval);
}

#ifdef __cplusplus
}
#endif

#endif
