/*
 * Coroutines and threads: per-thread leaders, a coroutine migrating between
 * threads, and the global pool shared between threads.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/coroutine.h"
#include "harness.h"

#include <pthread.h>

static void *leader_of_thread(void *opaque)
{
    (void)opaque;
    return qemu_coroutine_self();
}

/* Check that each thread has its own leader. */
TEST(leader_per_thread, "/threads/leader-per-thread")
{
    pthread_t t;
    void *other;

    pthread_create(&t, NULL, leader_of_thread, NULL);
    pthread_join(t, &other);
    CHECK(other != NULL);
    CHECK(other != qemu_coroutine_self());
}

#define HOPS 10000

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    Coroutine *co;
    int turn;             /* which thread enters next: 0 or 1 */
    int hops;             /* enters done so far */
    long tid[2];          /* kernel thread id of each side */
    int bad_self;
    int bad_tid;
} PingPong;

static void coroutine_fn hop_and_check(void *opaque)
{
    PingPong *p = opaque;
    for (;;) {
        /* p->turn names the thread that entered us this time */
        if (qemu_coroutine_self() != p->co) {
            p->bad_self++;
        }
        if (harness_gettid() != p->tid[p->turn]) {
            p->bad_tid++;
        }
        if (p->hops == HOPS) {
            return;
        }
        qemu_coroutine_yield();
    }
}

static void ping_pong_side(PingPong *p, int me)
{
    pthread_mutex_lock(&p->lock);
    p->tid[me] = harness_gettid();
    for (;;) {
        while (p->turn != me && p->hops < HOPS) {
            pthread_cond_wait(&p->cond, &p->lock);
        }
        if (p->hops == HOPS) {
            break;
        }
        p->hops++;
        qemu_coroutine_enter(p->co);
        p->turn = !me;
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
}

static void *ping_pong_thread(void *opaque)
{
    ping_pong_side(opaque, 1);
    return NULL;
}

/*
 * Check that a coroutine entered alternately from two threads, 10,000
 * times, always sees itself as self() and runs on the entering thread.
 */
TEST(migrate_between_threads, "/threads/migrate-10000-hops")
{
    PingPong p = {
        .lock = PTHREAD_MUTEX_INITIALIZER,
        .cond = PTHREAD_COND_INITIALIZER,
    };
    pthread_t t;

    p.co = qemu_coroutine_create(hop_and_check, &p);
    p.tid[0] = harness_gettid();
    pthread_create(&t, NULL, ping_pong_thread, &p);
    /* wait until the other side has recorded its tid */
    pthread_mutex_lock(&p.lock);
    while (!p.tid[1]) {
        pthread_mutex_unlock(&p.lock);
        sched_yield();
        pthread_mutex_lock(&p.lock);
    }
    pthread_mutex_unlock(&p.lock);
    ping_pong_side(&p, 0);
    pthread_join(t, NULL);
    CHECK(p.hops == HOPS);
    CHECK(p.bad_self == 0);
    CHECK(p.bad_tid == 0);
}

#define DONATED 100

static void coroutine_fn yield_once(void *opaque)
{
    (void)opaque;
    qemu_coroutine_yield();
}

static void *finish_many_and_exit(void *opaque)
{
    Coroutine **cos = opaque;
    for (int i = 0; i < DONATED; i++) {
        cos[i] = qemu_coroutine_create(yield_once, NULL);
        qemu_coroutine_enter(cos[i]);
    }
    for (int i = 0; i < DONATED; i++) {
        qemu_coroutine_enter(cos[i]);
    }
    return NULL;    /* thread exit hands its pool to the global pool */
}

static void *create_one(void *opaque)
{
    (void)opaque;
    Coroutine *co = qemu_coroutine_create(yield_once, NULL);
    qemu_coroutine_enter(co);
    qemu_coroutine_enter(co);
    return co;
}

/*
 * Check that coroutines freed by an exiting thread serve another thread's
 * creates through the global pool.
 */
TEST_OURS(global_pool_serves_other_threads, "/pool/global-between-threads",
          "our pool's hand-over between threads")
{
    static Coroutine *donated[DONATED];
    pthread_t t;
    void *got;
    bool found = false;

    qemu_coroutine_inc_pool_size(DONATED);
    pthread_create(&t, NULL, finish_many_and_exit, donated);
    pthread_join(t, NULL);
    pthread_create(&t, NULL, create_one, NULL);
    pthread_join(t, &got);
    qemu_coroutine_dec_pool_size(DONATED);
    for (int i = 0; i < DONATED; i++) {
        found |= donated[i] == got;
    }
    CHECK(found);
}

#ifndef VS_QEMU                /* counts stacks with qemucoro_get_stats */
static pthread_key_t late_key;

static void coroutine_fn do_nothing(void *opaque)
{
    (void)opaque;
}

/* A pthread key destructor: runs after the thread's Rust thread-locals
 * (the pool's exit hook among them) have been destroyed. */
static void run_coroutine_late(void *value)
{
    (void)value;
    qemu_coroutine_enter(qemu_coroutine_create(do_nothing, NULL));
}

static void *use_coroutines_then_exit_late(void *opaque)
{
    (void)opaque;
    qemu_coroutine_enter(qemu_coroutine_create(do_nothing, NULL));
    pthread_setspecific(late_key, &late_key);
    return NULL;
}

CHILD(terminate_after_exit_hook, "terminate-after-exit-hook")
{
    QemucoroStats s;
    pthread_t t;

    pthread_key_create(&late_key, run_coroutine_late);
    pthread_create(&t, NULL, use_coroutines_then_exit_late, NULL);
    pthread_join(t, NULL);
    /* The one stack this process made must be in the global pool now, so
     * this create reuses it rather than mapping a second. */
    qemu_coroutine_enter(qemu_coroutine_create(yield_once, NULL));
    qemucoro_get_stats(&s);
    if (s.live != 1 || s.pooled != 0) {
        fprintf(stderr, "live %zu pooled %zu: a stack was leaked\n",
                s.live, s.pooled);
        exit(1);
    }
    exit(0);
}
#endif

/* Check that a coroutine that terminates after its thread's pool was handed
 * over (in a pthread key destructor) is pooled, not leaked. */
TEST_OURS(terminated_after_exit_hook_is_pooled, "/pool/terminated-after-exit-hook",
          "qemucoro_ extension (counts stacks)")
{
    CHECK(exec_child_succeeds("terminate-after-exit-hook", NULL));
}
