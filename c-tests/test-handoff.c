/*
 * A coroutine's stack handed from one thread to another through the
 * library alone: the global pool, with no synchronisation the C program
 * can see. Under `make check-tsan` this is the case that needs the fiber
 * annotations: without them TSan sees two threads write the same stack
 * memory with nothing ordering them (the pool's lock is in uninstrumented
 * Rust) and reports a race that is not there.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#define _GNU_SOURCE
#include "qemu/coroutine.h"
#include "harness.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static _Atomic long first_tid;

static void __attribute__((noinline)) fill(volatile int *buf, int n, int value)
{
    for (int i = 0; i < n; i++) {
        buf[i] = value;
    }
}

static void coroutine_fn write_locals(void *opaque)
{
    volatile int buf[64];

    fill(buf, 64, (int)(long)opaque);
}

static void *run_and_exit(void *opaque)
{
    Coroutine **co = opaque;

    *co = qemu_coroutine_create(write_locals, (void *)1L);
    qemu_coroutine_enter(*co);
    atomic_store_explicit(&first_tid, harness_gettid(), memory_order_relaxed);
    return NULL;    /* exiting hands the pooled coroutine to the global pool */
}

static void *run_reused(void *opaque)
{
    Coroutine *co = qemu_coroutine_create(write_locals, (void *)2L);

    (void)opaque;
    qemu_coroutine_enter(co);
    return co;
}

static bool thread_gone(long tid)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/self/task/%ld", tid);
    return access(path, F_OK) != 0;
}

/*
 * Check that a stack freed by one thread and reused by another through the
 * global pool, with no synchronisation visible to C, works (and that TSan,
 * told about the switches, reports nothing).
 */
TEST_OURS(stack_reused_by_other_thread, "/threads/stack-handoff-through-pool",
          "our pool's hand-over between threads")
{
    Coroutine *first = NULL;
    pthread_t t1, t2;
    void *second;
    long tid;

    qemu_coroutine_inc_pool_size(1000);    /* room in the global pool */
    atomic_store(&first_tid, 0);
    pthread_create(&t1, NULL, run_and_exit, &first);
    while (!(tid = atomic_load_explicit(&first_tid, memory_order_relaxed))) {
        sched_yield();
    }
    while (!thread_gone(tid)) {
        sched_yield();
    }
    pthread_create(&t2, NULL, run_reused, NULL);
    pthread_join(t2, &second);
    pthread_join(t1, NULL);
    qemu_coroutine_dec_pool_size(1000);
    CHECK(second == first);
}
