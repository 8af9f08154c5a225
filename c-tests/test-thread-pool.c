/*
 * The thread pool (thread_pool_submit_aio, thread_pool_submit_co), its
 * requests and their cancelling (bdrv_aio_cancel, bdrv_aio_cancel_async),
 * its size limits, and waiting by polling (AIO_WAIT_WHILE, aio_wait_kick,
 * aio_wait_bh_oneshot).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#define _GNU_SOURCE
#include "block/aio.h"
#include "block/aio-wait.h"
#include "block/block.h"
#include "block/thread-pool.h"
#include "qemu/main-loop.h"
#include "harness.h"
#include "iothread.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

/* One request and what became of it. */
typedef struct PoolJob {
    int result;             /* what the function returns */
    atomic_int ran;         /* times the function ran */
    atomic_int started;     /* the function has begun */
    atomic_int release;     /* a blocking function may return */
    long worker_tid;
    int done;               /* times the callback ran */
    int ret;                /* the callback's ret */
    long cb_tid;
    BlockAIOCB *acb;
} PoolJob;

static int run_job(void *opaque)
{
    PoolJob *j = opaque;

    j->worker_tid = harness_gettid();
    atomic_fetch_add(&j->ran, 1);
    return j->result;
}

/* Waits (for at most 10 s) until the test releases it. */
static int blocking_job(void *opaque)
{
    PoolJob *j = opaque;

    atomic_store(&j->started, 1);
    for (int i = 0; i < 10000 && !atomic_load(&j->release); i++) {
        usleep(1000);
    }
    return run_job(j);
}

/* Takes 50 ms. */
static int slow_job(void *opaque)
{
    PoolJob *j = opaque;

    atomic_store(&j->started, 1);
    usleep(50000);
    return run_job(j);
}

static void job_done(void *opaque, int ret)
{
    PoolJob *j = opaque;

    j->cb_tid = harness_gettid();
    j->ret = ret;
    j->done++;
}

/* Polls `ctx` until `*flag` is set, for at most about 10 s. */
static void poll_until_set(AioContext *ctx, int *flag)
{
    for (int i = 0; i < 100000 && !*flag; i++) {
        aio_poll(ctx, false);
        usleep(100);
    }
}

/* Polls without blocking until the job's function has started (QEMU may
 * start its workers from a bottom half). */
static void wait_started(AioContext *ctx, PoolJob *j)
{
    for (int i = 0; i < 100000 && !atomic_load(&j->started); i++) {
        aio_poll(ctx, false);
        usleep(100);
    }
}

static void set_max_threads(int max)
{
    Error *err = NULL;

    aio_context_set_thread_pool_params(qemu_get_aio_context(), 0, max, &err);
    CHECK(err == NULL);
}

/* Check that the function runs on a worker thread and its callback later
 * in the submitting context's thread, with what the function returned;
 * never inside the submit. */
TEST(submit_aio_callback_in_context, "/thread-pool/submit-aio/callback-in-context")
{
    AioContext *ctx = qemu_get_aio_context();
    PoolJob j = { .result = 42 };

    j.acb = thread_pool_submit_aio(run_job, &j, job_done, &j);
    CHECK(j.acb != NULL);
    CHECK(j.done == 0);
    poll_until_set(ctx, &j.done);
    CHECK(j.done == 1);
    CHECK(j.ret == 42);
    CHECK(atomic_load(&j.ran) == 1);
    CHECK(j.worker_tid != harness_gettid());
    CHECK(j.cb_tid == harness_gettid());
}

/* Check that a request without a callback still runs its function. */
TEST(submit_aio_no_callback, "/thread-pool/submit-aio/no-callback")
{
    AioContext *ctx = qemu_get_aio_context();
    PoolJob j = { .result = 1 };

    thread_pool_submit_aio(run_job, &j, NULL, NULL);
    for (int i = 0; i < 100000 && atomic_load(&j.ran) == 0; i++) {
        aio_poll(ctx, false);
        usleep(100);
    }
    CHECK(atomic_load(&j.ran) == 1);
    /* Let the completion free the request before the next test. */
    while (aio_poll(ctx, false)) {
    }
}

/* Check that more requests than workers all run once and complete. */
TEST(submit_aio_many, "/thread-pool/submit-aio/many")
{
    AioContext *ctx = qemu_get_aio_context();
    enum { N = 100 };
    static PoolJob jobs[N];
    int all = 0;

    memset(jobs, 0, sizeof(jobs));
    for (int i = 0; i < N; i++) {
        jobs[i].result = i;
        thread_pool_submit_aio(run_job, &jobs[i], job_done, &jobs[i]);
    }
    for (int round = 0; round < 100000 && !all; round++) {
        aio_poll(ctx, false);
        all = 1;
        for (int i = 0; i < N; i++) {
            all &= jobs[i].done == 1;
        }
        usleep(all ? 0 : 100);
    }
    for (int i = 0; i < N; i++) {
        CHECK(atomic_load(&jobs[i].ran) == 1);
        CHECK(jobs[i].done == 1);
        CHECK(jobs[i].ret == i);
    }
}

static void coroutine_fn submit_co_entry(void *opaque)
{
    PoolJob *j = opaque;

    j->ret = thread_pool_submit_co(run_job, j);
    j->done++;
}

/* Check that thread_pool_submit_co sleeps the coroutine while the function
 * runs on a worker, and returns what it returned. */
TEST(submit_co_returns_result, "/thread-pool/submit-co/returns-result")
{
    AioContext *ctx = qemu_get_aio_context();
    PoolJob j = { .result = 7 };
    Coroutine *co = qemu_coroutine_create(submit_co_entry, &j);

    qemu_coroutine_enter(co);
    CHECK(j.done == 0);
    poll_until_set(ctx, &j.done);
    CHECK(j.done == 1);
    CHECK(j.ret == 7);
    CHECK(j.worker_tid != harness_gettid());
}

typedef struct {
    PoolJob job;
    long iothread_tid;
    atomic_int finished;
} InIothread;

static void note_done_in_iothread(void *opaque, int ret)
{
    InIothread *t = opaque;

    job_done(&t->job, ret);
    atomic_store(&t->finished, 1);
}

static void submit_in_iothread(void *opaque)
{
    InIothread *t = opaque;

    t->iothread_tid = harness_gettid();
    thread_pool_submit_aio(run_job, &t->job, note_done_in_iothread, t);
}

/* Check that a request submitted from an iothread completes in the
 * iothread's context, on its thread, and that the context's pool goes
 * with the context. */
TEST(submit_aio_iothread, "/thread-pool/submit-aio/iothread-context")
{
    IOThread *iothread = iothread_new();
    InIothread t = { .job = { .result = 5 } };

    aio_bh_schedule_oneshot(iothread_get_aio_context(iothread), submit_in_iothread, &t);
    for (int i = 0; i < 10000 && !atomic_load(&t.finished); i++) {
        usleep(1000);
    }
    CHECK(atomic_load(&t.finished));
    CHECK(t.job.ret == 5);
    CHECK(t.job.cb_tid == t.iothread_tid);
    CHECK(t.job.worker_tid != t.iothread_tid);
    iothread_join(iothread);
}

/*
 * Check that bdrv_aio_cancel_async takes a request no worker has picked
 * up off the queue: its function never runs and its callback runs later,
 * from the loop, with -ECANCELED. One worker, kept busy:
 *
 *   worker:  [ blocker ........................ ]
 *   main:    submit(blocker) submit(B) cancel_async(B) poll: B's cb(-ECANCELED)
 */
TEST(cancel_async_queued, "/thread-pool/cancel-async/queued-gets-ecanceled")
{
    AioContext *ctx = qemu_get_aio_context();
    PoolJob blocker = { .result = 0 };
    PoolJob b = { .result = 3 };

    set_max_threads(1);
    thread_pool_submit_aio(blocking_job, &blocker, job_done, &blocker);
    wait_started(ctx, &blocker);
    CHECK(atomic_load(&blocker.started));
    b.acb = thread_pool_submit_aio(run_job, &b, job_done, &b);
    bdrv_aio_cancel_async(b.acb);
    CHECK(b.done == 0);
    poll_until_set(ctx, &b.done);
    CHECK(b.done == 1);
    CHECK(b.ret == -ECANCELED);
    atomic_store(&blocker.release, 1);
    poll_until_set(ctx, &blocker.done);
    CHECK(blocker.ret == 0);
    CHECK(atomic_load(&b.ran) == 0);
    set_max_threads(THREAD_POOL_MAX_THREADS_DEFAULT);
}

/* Check that bdrv_aio_cancel of a queued request returns once its
 * callback has run with -ECANCELED, without waiting for the worker. */
TEST(cancel_queued_sync, "/thread-pool/cancel/queued-returns-after-callback")
{
    AioContext *ctx = qemu_get_aio_context();
    PoolJob blocker = { .result = 0 };
    PoolJob b = { .result = 3 };

    set_max_threads(1);
    thread_pool_submit_aio(blocking_job, &blocker, job_done, &blocker);
    wait_started(ctx, &blocker);
    b.acb = thread_pool_submit_aio(run_job, &b, job_done, &b);
    bdrv_aio_cancel(b.acb);
    CHECK(b.done == 1);
    CHECK(b.ret == -ECANCELED);
    CHECK(blocker.done == 0);
    atomic_store(&blocker.release, 1);
    poll_until_set(ctx, &blocker.done);
    CHECK(atomic_load(&b.ran) == 0);
    set_max_threads(THREAD_POOL_MAX_THREADS_DEFAULT);
}

/* Check that bdrv_aio_cancel of a request already running waits for it
 * to finish: its callback has run, with the function's own result. */
TEST(cancel_running_sync, "/thread-pool/cancel/running-completes")
{
    AioContext *ctx = qemu_get_aio_context();
    PoolJob j = { .result = 9 };

    j.acb = thread_pool_submit_aio(slow_job, &j, job_done, &j);
    wait_started(ctx, &j);
    bdrv_aio_cancel(j.acb);
    CHECK(j.done == 1);
    CHECK(j.ret == 9);
    CHECK(atomic_load(&j.ran) == 1);
}

/* Check that bad pool limits are refused with QEMU's message. */
TEST(params_bad_values, "/thread-pool/params/bad-values")
{
    AioContext *ctx = qemu_get_aio_context();
    int64_t bad[][2] = { { 2, 1 }, { 0, 0 }, { -1, 4 }, { 0, 1LL << 40 } };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        Error *err = NULL;

        aio_context_set_thread_pool_params(ctx, bad[i][0], bad[i][1], &err);
        CHECK(err != NULL);
        if (err) {
            CHECK(strcmp(error_get_pretty(err),
                         "bad thread-pool-min/thread-pool-max values") == 0);
            error_free(err);
        }
    }
}


/* Threads in this process (entries of /proc/self/task), -1 if unknown. */
static int thread_count(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    if (!d) {
        return -1;
    }
    while ((e = readdir(d))) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

/* Waits (for at most about 5 s) until the process has `want` threads. */
static bool wait_thread_count(int want)
{
    for (int i = 0; i < 5000; i++) {
        if (thread_count() == want) {
            return true;
        }
        usleep(1000);
    }
    return false;
}

/* Exits 0 if the workers came and went as they should (the harness does
 * not count CHECKs made in a CHILD). */
CHILD(min_threads_start_and_stop, "min-threads-start-and-stop")
{
    IOThread *iothread = iothread_new();
    AioContext *ctx = iothread_get_aio_context(iothread);
    int base = thread_count();
    Error *err = NULL;
    bool started, stopped;

    aio_get_thread_pool(ctx);
    aio_context_set_thread_pool_params(ctx, 3, 8, &err);
    started = err == NULL && base > 1 && wait_thread_count(base + 3);
    iothread_join(iothread);
    stopped = wait_thread_count(base - 1);
    exit(started && stopped ? 0 : 1);
}

/* Check that raising a pool's minimum starts that many workers at once,
 * and that destroying the context stops them. In a fresh process, whose
 * only threads are the ones it starts (the main loop's idle workers would
 * otherwise come and go while it counts). */
TEST(params_min_threads, "/thread-pool/params/min-threads-start-and-stop")
{
    CHECK(exec_child_succeeds("min-threads-start-and-stop", NULL));
}

static atomic_int running, peak;

static int count_concurrency(void *opaque)
{
    int now = atomic_fetch_add(&running, 1) + 1;
    int seen = atomic_load(&peak);

    (void)opaque;
    while (now > seen && !atomic_compare_exchange_weak(&peak, &seen, now)) {
    }
    usleep(20000);
    atomic_fetch_sub(&running, 1);
    return 0;
}

/* Check that a pool runs at most its maximum of requests at once, even
 * when it had more workers before the limit was lowered. */
TEST(params_max_threads, "/thread-pool/params/max-limits-concurrency")
{
    AioContext *ctx = qemu_get_aio_context();
    enum { N = 8 };
    PoolJob jobs[N];
    int all = 0;

    memset(jobs, 0, sizeof(jobs));
    atomic_store(&peak, 0);
    set_max_threads(2);
    for (int i = 0; i < N; i++) {
        thread_pool_submit_aio(count_concurrency, NULL, job_done, &jobs[i]);
    }
    for (int round = 0; round < 100000 && !all; round++) {
        aio_poll(ctx, false);
        all = 1;
        for (int i = 0; i < N; i++) {
            all &= jobs[i].done == 1;
        }
        usleep(all ? 0 : 100);
    }
    CHECK(all);
    CHECK(atomic_load(&peak) >= 1);
    CHECK(atomic_load(&peak) <= 2);
    set_max_threads(THREAD_POOL_MAX_THREADS_DEFAULT);
}

static void *submit_from_plain_thread(void *opaque)
{
    PoolJob *j = opaque;

    thread_pool_submit_aio(run_job, j, job_done, j);
    return NULL;
}

/* In a fresh process: no worker of an earlier test is left orphaned by
 * the fork, for Valgrind to report as leaked. */
CHILD(submit_on_plain_thread, "submit-on-plain-thread")
{
    PoolJob j = { .result = 0 };
    pthread_t t;

    pthread_create(&t, NULL, submit_from_plain_thread, &j);
    pthread_join(t, NULL);
    exit(0);
}

/* Check that submitting from a thread without an AioContext aborts with a
 * message (QEMU dereferences a NULL context). */
TEST_OURS(submit_without_context_aborts, "/thread-pool/submit-aio/no-context-aborts",
          "QEMU crashes on the NULL context")
{
    CHECK(exec_child_aborts_with("submit-on-plain-thread", NULL,
        "thread_pool_submit_aio: the calling thread has no AioContext"));
}

static void set_flag(void *opaque)
{
    atomic_int *flag = opaque;

    atomic_store(flag, 1);
}

/* Check that AIO_WAIT_WHILE runs the main loop until the condition is
 * false and says whether it had to wait. */
TEST(aio_wait_while_polls, "/aio-wait/while/polls-until-false")
{
    atomic_int flag = 0;
    bool waited;

    aio_bh_schedule_oneshot(qemu_get_aio_context(), set_flag, &flag);
    waited = AIO_WAIT_WHILE(NULL, !atomic_load(&flag));
    CHECK(waited);
    CHECK(atomic_load(&flag) == 1);
    waited = AIO_WAIT_WHILE_UNLOCKED(qemu_get_aio_context(), !atomic_load(&flag));
    CHECK(!waited);
}

static void *set_flag_and_kick(void *opaque)
{
    usleep(20000);
    set_flag(opaque);
    aio_wait_kick();
    return NULL;
}

static void wait_for_kick(void *opaque)
{
    atomic_int *flag = opaque;
    pthread_t t;

    pthread_create(&t, NULL, set_flag_and_kick, flag);
    AIO_WAIT_WHILE(NULL, !atomic_load(flag));
    CHECK(atomic_load(flag) == 1);
    pthread_join(t, NULL);
}

/* Check that aio_wait_kick from another thread wakes a main-loop waiter
 * whose loop has nothing else to do (it would sleep forever otherwise). */
TEST(aio_wait_kick_wakes, "/aio-wait/kick/wakes-main-loop-waiter")
{
    atomic_int flag = 0;

    CHECK(child_passes(wait_for_kick, &flag));
}

typedef struct {
    long tid;
    int runs;
} Where;

static void note_where(void *opaque)
{
    Where *w = opaque;

    w->tid = harness_gettid();
    w->runs++;
}

/* Check that aio_wait_bh_oneshot runs the callback in the other context,
 * on its thread, and returns only once it has run. */
TEST(aio_wait_bh_oneshot_runs, "/aio-wait/bh-oneshot/runs-in-ctx")
{
    IOThread *iothread = iothread_new();
    Where first = { 0 }, second = { 0 };

    aio_wait_bh_oneshot(iothread_get_aio_context(iothread), note_where, &first);
    CHECK(first.runs == 1);
    CHECK(first.tid != harness_gettid());
    aio_wait_bh_oneshot(iothread_get_aio_context(iothread), note_where, &second);
    CHECK(second.runs == 1);
    CHECK(second.tid == first.tid);
    iothread_join(iothread);
}

static void *wait_on_plain_thread(void *opaque)
{
    (void)opaque;
    AIO_WAIT_WHILE(NULL, true);
    return NULL;
}

static void wait_outside_main_loop(void *opaque)
{
    pthread_t t;

    pthread_create(&t, NULL, wait_on_plain_thread, opaque);
    pthread_join(t, NULL);
}

/* Check that AIO_WAIT_WHILE on a thread outside the main loop and outside
 * the context it names aborts. */
TEST(aio_wait_outside_main_loop_aborts, "/aio-wait/while/outside-main-loop-aborts")
{
    CHECK(child_aborts_with(wait_outside_main_loop, NULL,
        ABORT_MSG("AIO_WAIT_WHILE: called outside the context it waits for and outside the main loop",
                  "*Assertion `qemu_get_current_aio_context() == qemu_get_aio_context()' failed.")));
}
