/*
 * CoMutex contended by coroutines running on different threads, each in
 * its own AioContext (iothread): a waiter on one thread is handed the
 * mutex by an unlocker on another and woken through aio_co_schedule.
 *
 * It uses the iothread helpers of QEMU's tests (iothread_new,
 * iothread_get_aio_context, iothread_join) through c-tests/iothread.h.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */

#include <pthread.h>
#include <stdatomic.h>

#include "block/aio.h"
#include "qemu/coroutine.h"
#include "iothread.h"
#include "harness.h"

#define THREADS 4
#define INCREMENTS 100000
#define RESCHEDULE_EVERY 1000

static CoMutex mutex;
static long counter;                    /* protected by mutex */
static atomic_int inside;               /* coroutines in the critical section */
static atomic_int overlaps;
static atomic_int strays;               /* resumed outside their AioContext */

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cond = PTHREAD_COND_INITIALIZER;
static int finished;

static void coroutine_fn increment(void *opaque)
{
    AioContext *home = opaque;

    for (int i = 0; i < INCREMENTS; i++) {
        qemu_co_mutex_lock(&mutex);
        if (atomic_fetch_add(&inside, 1) != 0) {
            atomic_fetch_add(&overlaps, 1);
        }
        if (qemu_get_current_aio_context() != home) {
            atomic_fetch_add(&strays, 1);
        }
        counter++;
        if (i % RESCHEDULE_EVERY == 0) {
            /* sleep while holding it, so that the others queue up */
            aio_co_schedule(home, qemu_coroutine_self());
            qemu_coroutine_yield();
        }
        atomic_fetch_sub(&inside, 1);
        qemu_co_mutex_unlock(&mutex);
    }

    pthread_mutex_lock(&done_lock);
    finished++;
    pthread_cond_signal(&done_cond);
    pthread_mutex_unlock(&done_lock);
}

/*
 * Check that a CoMutex contended by one coroutine on each of 4 iothreads,
 * 100,000 increments each, never lets two in at once, loses no increment,
 * and always resumes a waiter in its own AioContext.
 */
TEST(co_mutex_across_threads, "/co-mutex/threads/4x100000")
{
    IOThread *threads[THREADS];

    qemu_co_mutex_init(&mutex);
    for (int i = 0; i < THREADS; i++) {
        AioContext *ctx;

        threads[i] = iothread_new();
        ctx = iothread_get_aio_context(threads[i]);
        aio_co_schedule(ctx, qemu_coroutine_create(increment, ctx));
    }

    pthread_mutex_lock(&done_lock);
    while (finished < THREADS) {
        pthread_cond_wait(&done_cond, &done_lock);
    }
    pthread_mutex_unlock(&done_lock);

    for (int i = 0; i < THREADS; i++) {
        iothread_join(threads[i]);
    }
    CHECK(counter == (long)THREADS * INCREMENTS);
    CHECK(atomic_load(&overlaps) == 0);
    CHECK(atomic_load(&strays) == 0);
}
