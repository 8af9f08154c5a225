/*
 * CoMutex contended by coroutines running on different threads, each in
 * its own AioContext (iothread): a waiter on one thread is handed the
 * mutex by an unlocker on another and woken through aio_co_schedule.
 *
 * It uses the iothread helpers of QEMU's tests (iothread_new,
 * iothread_get_aio_context, iothread_join) through include/iothread.h.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */

#include <pthread.h>
#include <sched.h>
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

static CoMutex passed_mutex;
static int passed_value;                /* protected by passed_mutex */
static atomic_int passed_unlocked;

static void coroutine_fn write_under_lock(void *opaque)
{
    (void)opaque;
    qemu_co_mutex_lock(&passed_mutex);
    passed_value = 42;
    qemu_co_mutex_unlock(&passed_mutex);
}

static void coroutine_fn read_under_lock(void *opaque)
{
    int *seen = opaque;

    qemu_co_mutex_lock(&passed_mutex);
    *seen = passed_value;
    qemu_co_mutex_unlock(&passed_mutex);
}

static void *writer_thread(void *opaque)
{
    (void)opaque;
    qemu_coroutine_enter(qemu_coroutine_create(write_under_lock, NULL));
    /* relaxed: the mutex alone must order the value (TSan checks it) */
    atomic_store_explicit(&passed_unlocked, 1, memory_order_relaxed);
    return NULL;
}

static void *reader_thread(void *opaque)
{
    /* created first, so that no pool hand-off orders us after the writer */
    Coroutine *co = qemu_coroutine_create(read_under_lock, opaque);

    while (!atomic_load_explicit(&passed_unlocked, memory_order_relaxed)) {
        sched_yield();
    }
    qemu_coroutine_enter(co);
    return NULL;
}

/*
 * Check that a CoMutex taken without contention passes what its last
 * holder, on another thread, wrote under it: nothing but the mutex orders
 * the two (under ThreadSanitizer, a missing edge is a reported race).
 */
TEST(co_mutex_uncontended_across_threads, "/co-mutex/threads/uncontended-hand-off")
{
    pthread_t writer, reader;
    int seen = 0;

    qemu_co_mutex_init(&passed_mutex);
    pthread_create(&reader, NULL, reader_thread, &seen);
    pthread_create(&writer, NULL, writer_thread, NULL);
    pthread_join(writer, NULL);
    pthread_join(reader, NULL);
    CHECK(seen == 42);
}
