/*
 * fork(): a child forked while another thread is inside the library (here
 * holding the registry's lock in qemucoro_get_stats) can create and run
 * coroutines, on its own thread and on a new one, and run a new AioContext
 * (an iothread's: a thread polls only its own).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/coroutine.h"
#include "block/aio.h"
#include "harness.h"
#include "iothread.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#define SUSPENDED 2000          /* makes each stats walk long */
#define FORKS 20

#ifndef VS_QEMU                /* the lock held is qemucoro_get_stats's */
static atomic_bool stop_stats;
static atomic_long stats_calls;

static void *stats_in_a_loop(void *opaque)
{
    QemucoroStats s;

    (void)opaque;
    while (!atomic_load(&stop_stats)) {
        qemucoro_get_stats(&s);
        atomic_fetch_add(&stats_calls, 1);
    }
    return NULL;
}

static void coroutine_fn yield_once(void *opaque)
{
    (void)opaque;
    qemu_coroutine_yield();
}

static void coroutine_fn count(void *opaque)
{
    (*(int *)opaque)++;
}

static void bh_ran(void *opaque)
{
    atomic_store((atomic_bool *)opaque, true);
}

static void coroutine_fn count_then_signal(void *opaque)
{
    atomic_fetch_add((atomic_int *)opaque, 1);
}

static int run_some_coroutines(void)
{
    int runs = 0;

    for (int i = 0; i < 10; i++) {
        qemu_coroutine_enter(qemu_coroutine_create(count, &runs));
    }
    return runs;
}

static void *coroutines_on_new_thread(void *opaque)
{
    *(int *)opaque = run_some_coroutines();
    return NULL;
}

/* The forked child's work: coroutines on this thread and a new one, then
 * a new AioContext (an iothread's) running a bottom half and a coroutine.
 * Exits 0 if everything ran. */
static void child_work(void)
{
    atomic_bool ran = false;
    atomic_int entered = 0;
    int on_thread = 0;
    IOThread *iothread;
    AioContext *ctx;
    pthread_t t;

    alarm(10);
    if (run_some_coroutines() != 10) {
        _exit(1);
    }
    pthread_create(&t, NULL, coroutines_on_new_thread, &on_thread);
    pthread_join(t, NULL);
    iothread = iothread_new();
    ctx = iothread_get_aio_context(iothread);
    aio_bh_schedule_oneshot(ctx, bh_ran, &ran);
    aio_co_enter(ctx, qemu_coroutine_create(count_then_signal, &entered));
    while (!atomic_load(&ran) || atomic_load(&entered) != 1) {
        usleep(1000);
    }
    iothread_join(iothread);
    _exit(on_thread == 10 ? 0 : 2);
}

CHILD(fork_while_stats, "fork-while-stats")
{
    static Coroutine *cos[SUSPENDED];
    pthread_t stats;
    int ok = 0;

    for (int i = 0; i < SUSPENDED; i++) {
        cos[i] = qemu_coroutine_create(yield_once, NULL);
        qemu_coroutine_enter(cos[i]);
    }
    pthread_create(&stats, NULL, stats_in_a_loop, NULL);
    /* Fork only once it is looping: a thread still starting could hold a
     * lock of ASan's runtime, which does not handle fork. */
    while (atomic_load(&stats_calls) == 0) {
        usleep(1000);
    }
    for (int i = 0; i < FORKS; i++) {
        int status;
        pid_t pid = fork();

        if (pid == 0) {
            child_work();
        }
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
            ok++;
        } else {
            fprintf(stderr, "fork %d: child status %#x\n", i, status);
        }
    }
    atomic_store(&stop_stats, true);
    pthread_join(stats, NULL);
    for (int i = 0; i < SUSPENDED; i++) {
        qemu_coroutine_enter(cos[i]);
    }
    if (ok != FORKS) {
        fprintf(stderr, "%d of %d forked children failed or hung\n",
                FORKS - ok, FORKS);
        exit(1);
    }
    exit(0);
}
#endif

/* Check that children forked while another thread holds a library lock can
 * create and run coroutines and make and run a new AioContext. */
TEST_OURS(fork_while_locked, "/fork/while-another-thread-holds-a-lock",
          "qemucoro_ extension (the lock is qemucoro_get_stats's)")
{
    CHECK(exec_child_succeeds("fork-while-stats", NULL));
}
