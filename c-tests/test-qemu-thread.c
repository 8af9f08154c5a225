/*
 * QEMU's thread primitives (qemu/thread.h, qemu/futex.h): QemuThread,
 * QemuCond, QemuSemaphore, QemuEvent, QemuRecMutex and QemuSpin behave as
 * QEMU's util/qemu-thread-posix.c makes them.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#define _GNU_SOURCE
#include "qemu/thread.h"
#include "qemu/futex.h"
#include "harness.h"

#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *return_opaque(void *opaque)
{
    return opaque;
}

/* Check that a JOINABLE thread runs and qemu_thread_join returns its value. */
TEST(thread_join_returns_value, "/qemu-thread/join-returns-value")
{
    QemuThread t;
    int token;

    qemu_thread_create(&t, "test", return_opaque, &token, QEMU_THREAD_JOINABLE);
    CHECK(qemu_thread_join(&t) == &token);
}

static void *self_checks(void *opaque)
{
    QemuThread *main_thread = opaque;
    QemuThread me;

    qemu_thread_get_self(&me);
    return (void *)(uintptr_t)(qemu_thread_is_self(&me) &&
                               !qemu_thread_is_self(main_thread));
}

/* Check that qemu_thread_is_self tells the calling thread from others. */
TEST(thread_is_self, "/qemu-thread/is-self")
{
    QemuThread main_thread, t;

    qemu_thread_get_self(&main_thread);
    CHECK(qemu_thread_is_self(&main_thread));
    qemu_thread_create(&t, "test", self_checks, &main_thread, QEMU_THREAD_JOINABLE);
    CHECK(qemu_thread_join(&t) == (void *)1);
    CHECK(!qemu_thread_is_self(&t));
}

static void *blocked_signals(void *opaque)
{
    sigset_t *mask = opaque;

    pthread_sigmask(SIG_SETMASK, NULL, mask);
    return NULL;
}

/*
 * Check that a new thread starts with asynchronous signals blocked and the
 * synchronous ones (SIGSEGV, SIGFPE, SIGILL) not, whatever its creator's mask.
 */
TEST(thread_blocks_signals, "/qemu-thread/blocks-async-signals")
{
    QemuThread t;
    sigset_t mask;

    qemu_thread_create(&t, "test", blocked_signals, &mask, QEMU_THREAD_JOINABLE);
    qemu_thread_join(&t);
    CHECK(sigismember(&mask, SIGUSR1));
    CHECK(sigismember(&mask, SIGTERM));
    CHECK(!sigismember(&mask, SIGSEGV));
    CHECK(!sigismember(&mask, SIGFPE));
    CHECK(!sigismember(&mask, SIGILL));
}

static void *set_event(void *opaque)
{
    qemu_event_set(opaque);
    return NULL;
}

/* Check that a DETACHED thread runs (and needs no join). */
TEST(thread_detached_runs, "/qemu-thread/detached-runs")
{
    QemuThread t;
    QemuEvent ev;

    qemu_event_init(&ev, false);
    qemu_thread_create(&t, "test", set_event, &ev, QEMU_THREAD_DETACHED);
    qemu_event_wait(&ev);
    qemu_event_destroy(&ev);
}

typedef struct {
    QemuMutex lock;
    QemuCond cond;
    bool flag;
} Flag;

static void *raise_flag(void *opaque)
{
    Flag *f = opaque;

    usleep(10 * 1000);
    qemu_mutex_lock(&f->lock);
    f->flag = true;
    qemu_cond_signal(&f->cond);
    qemu_mutex_unlock(&f->lock);
    return NULL;
}

/* Check that qemu_cond_signal wakes a thread waiting in qemu_cond_wait. */
TEST(cond_signal_wakes, "/qemu-cond/signal-wakes-waiter")
{
    Flag f = { .flag = false };
    QemuThread t;

    qemu_mutex_init(&f.lock);
    qemu_cond_init(&f.cond);
    qemu_thread_create(&t, "test", raise_flag, &f, QEMU_THREAD_JOINABLE);
    qemu_mutex_lock(&f.lock);
    while (!f.flag) {
        qemu_cond_wait(&f.cond, &f.lock);
    }
    qemu_mutex_unlock(&f.lock);
    qemu_thread_join(&t);
    qemu_cond_destroy(&f.cond);
    qemu_mutex_destroy(&f.lock);
}

/* Check that qemu_cond_timedwait returns false after its time, unsignalled. */
TEST(cond_timedwait_times_out, "/qemu-cond/timedwait-times-out")
{
    QemuMutex lock;
    QemuCond cond;
    int64_t start;
    bool woken;

    qemu_mutex_init(&lock);
    qemu_cond_init(&cond);
    qemu_mutex_lock(&lock);
    start = now_ms();
    woken = qemu_cond_timedwait(&cond, &lock, 50);
    CHECK(!woken);
    CHECK(now_ms() - start >= 49);
    qemu_mutex_unlock(&lock);
    qemu_cond_destroy(&cond);
    qemu_mutex_destroy(&lock);
}

/* Check that a semaphore counts: posts before waits are not lost. */
TEST(sem_counts, "/qemu-sem/counts-posts")
{
    QemuSemaphore sem;

    qemu_sem_init(&sem, 1);
    qemu_sem_post(&sem);
    qemu_sem_wait(&sem);
    CHECK(qemu_sem_timedwait(&sem, 0) == 0);
    CHECK(qemu_sem_timedwait(&sem, 0) == -1);
    qemu_sem_destroy(&sem);
}

/* Check that qemu_sem_timedwait gives up with -1 after its time. */
TEST(sem_timedwait_times_out, "/qemu-sem/timedwait-times-out")
{
    QemuSemaphore sem;
    int64_t start;

    qemu_sem_init(&sem, 0);
    start = now_ms();
    CHECK(qemu_sem_timedwait(&sem, 50) == -1);
    CHECK(now_ms() - start >= 49);
    qemu_sem_destroy(&sem);
}

static void *post_later(void *opaque)
{
    usleep(10 * 1000);
    qemu_sem_post(opaque);
    return NULL;
}

/* Check that qemu_sem_wait sleeps until another thread posts. */
TEST(sem_wait_wakes, "/qemu-sem/post-wakes-waiter")
{
    QemuSemaphore sem;
    QemuThread t;

    qemu_sem_init(&sem, 0);
    qemu_thread_create(&t, "test", post_later, &sem, QEMU_THREAD_JOINABLE);
    qemu_sem_wait(&sem);
    qemu_thread_join(&t);
    qemu_sem_destroy(&sem);
}

/* Check that waiting on a set event returns at once, as often as asked. */
TEST(event_set_stays_set, "/qemu-event/set-stays-set")
{
    QemuEvent ev;

    qemu_event_init(&ev, true);
    qemu_event_wait(&ev);
    qemu_event_wait(&ev);
    qemu_event_reset(&ev);
    qemu_event_set(&ev);
    qemu_event_set(&ev);
    qemu_event_wait(&ev);
    qemu_event_destroy(&ev);
}

typedef struct {
    QemuEvent *ev;
    int woken;
} Waiter;

static void *wait_event(void *opaque)
{
    Waiter *w = opaque;

    qemu_event_wait(w->ev);
    qatomic_inc(&w->woken);
    return NULL;
}

/*
 * Check that one qemu_event_set wakes every waiter (manual reset), and that
 * after qemu_event_reset a waiter sleeps again until the next set.
 */
TEST(event_set_wakes_all, "/qemu-event/set-wakes-all-waiters")
{
    QemuEvent ev;
    Waiter w = { .ev = &ev };
    QemuThread t[3];
    int i;

    qemu_event_init(&ev, false);
    for (i = 0; i < 3; i++) {
        qemu_thread_create(&t[i], "test", wait_event, &w, QEMU_THREAD_JOINABLE);
    }
    usleep(20 * 1000);
    CHECK(qatomic_read(&w.woken) == 0);
    qemu_event_set(&ev);
    for (i = 0; i < 3; i++) {
        qemu_thread_join(&t[i]);
    }
    CHECK(w.woken == 3);

    qemu_event_reset(&ev);
    qemu_thread_create(&t[0], "test", wait_event, &w, QEMU_THREAD_JOINABLE);
    usleep(20 * 1000);
    CHECK(qatomic_read(&w.woken) == 3);
    qemu_event_set(&ev);
    qemu_thread_join(&t[0]);
    CHECK(w.woken == 4);
    qemu_event_destroy(&ev);
}

/* Tries the lock once, gives it back if taken; returns trylock's result. */
static void *trylock_other_thread(void *opaque)
{
    int ret = qemu_rec_mutex_trylock(opaque);

    if (ret == 0) {
        qemu_rec_mutex_unlock(opaque);
    }
    return (void *)(intptr_t)ret;
}

/* Check that a QemuRecMutex is taken again by its holder, not by others. */
TEST(rec_mutex_relocks, "/qemu-rec-mutex/holder-relocks")
{
    QemuRecMutex m;
    QemuThread t;

    qemu_rec_mutex_init(&m);
    qemu_rec_mutex_lock(&m);
    qemu_rec_mutex_lock(&m);
    CHECK(qemu_rec_mutex_trylock(&m) == 0);
    qemu_thread_create(&t, "test", trylock_other_thread, &m, QEMU_THREAD_JOINABLE);
    CHECK(qemu_thread_join(&t) != 0);
    qemu_rec_mutex_unlock(&m);
    qemu_rec_mutex_unlock(&m);
    qemu_rec_mutex_unlock(&m);
    qemu_thread_create(&t, "test", trylock_other_thread, &m, QEMU_THREAD_JOINABLE);
    CHECK(qemu_thread_join(&t) == 0);
    qemu_rec_mutex_destroy(&m);
}

/* Check that qemu_spin_trylock returns true when the lock is busy. */
TEST(spin_trylock_busy, "/qemu-spin/trylock-true-when-busy")
{
    QemuSpin s;

    qemu_spin_init(&s);
    CHECK(!qemu_spin_locked(&s));
    CHECK(!qemu_spin_trylock(&s));
    CHECK(qemu_spin_locked(&s));
    CHECK(qemu_spin_trylock(&s));
    qemu_spin_unlock(&s);
    qemu_spin_lock(&s);
    CHECK(qemu_spin_locked(&s));
    qemu_spin_unlock(&s);
    CHECK(!qemu_spin_locked(&s));
}

/* Check that qemu_futex_wait returns at once when the word differs. */
TEST(futex_wait_mismatch, "/qemu-futex/wait-returns-on-other-value")
{
    unsigned word = 1;

    qemu_futex_wait(&word, 0);
    qemu_futex_wake(&word, 1);
}
