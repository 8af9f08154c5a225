/*
 * fork(): a child forked while another thread is inside the library (here
 * holding the registry's lock in qemucoro_get_stats) can create and run
 * coroutines, on its own thread and on a new one, and run a new AioContext.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/coroutine.h"
#include "block/aio.h"
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#define SUSPENDED 2000          /* makes each stats walk long */
#define FORKS 20

#ifndef VS_QEMU                /* the lock held is qemucoro_get_stats's */
static atomic_bool stop_stats;

static void *stats_in_a_loop(void *opaque)
{
    QemucoroStats s;

    (void)opaque;
    while (!atomic_load(&stop_stats)) {
        qemucoro_get_stats(&s);
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
    *(bool *)opaque = true;
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

/* The forked child's work: exits 0 if everything ran. */
static void child_work(void)
{
    AioContext *ctx;
    bool ran = false;
    int on_thread = 0;
    pthread_t t;

    alarm(10);
    if (run_some_coroutines() != 10) {
        _exit(1);
    }
    pthread_create(&t, NULL, coroutines_on_new_thread, &on_thread);
    pthread_join(t, NULL);
    ctx = aio_context_new(NULL);
    aio_bh_schedule_oneshot(ctx, bh_ran, &ran);
    while (aio_poll(ctx, false)) {
    }
    aio_context_unref(ctx);
    _exit(on_thread == 10 && ran ? 0 : 2);
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
    for (int i = 0; i < FORKS; i++) {
        int status;
        pid_t pid = fork();

        if (pid == 0) {
            child_work();
        }
        waitpid(pid, &status, 0);
        ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
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
