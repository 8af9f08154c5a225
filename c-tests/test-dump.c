/*
 * The hang dump (qemucoro_dump, QEMUCORO_DUMP_SIGNAL): what each suspended
 * coroutine waits for, who holds it, and the deadlock cycles.
 *
 * QEMU has no dump, so every case here is ours (skipped by check-vs-qemu).
 * Each hang is built in a forked child, which exits with its coroutines
 * still stuck.
 *
 *   thread 1 (A)          thread 2 (B)
 *   lock m1               lock m2
 *         ---- both hold one ----
 *   lock m2: waits        lock m1: waits       -> cycle A -> B -> A
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE        /* memfd_create */
#endif
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/aio.h"
#include "qemu/coroutine.h"
#include "qemu/timer.h"
#include "iothread.h"
#include "harness.h"

#define OURS "qemucoro's hang dump (QEMU has none)"
#define DUMP_MAX (256 * 1024)

static char dump[DUMP_MAX];

/* Takes a dump into `dump`. */
static void take_dump(void)
{
    int fd = memfd_create("dump", MFD_CLOEXEC);
    ssize_t n;

    qemucoro_dump(fd);
    n = pread(fd, dump, DUMP_MAX - 1, 0);
    dump[n > 0 ? n : 0] = '\0';
    close(fd);
}

/* Dumps until the dump contains `needle` (other threads are on their way
 * into the hang); false after 5 s. */
static bool dump_until(const char *needle)
{
    for (int i = 0; i < 500; i++) {
        take_dump();
        if (strstr(dump, needle)) {
            return true;
        }
        usleep(10 * 1000);
    }
    fprintf(stderr, "no '%s' in the dump:\n%s", needle, dump);
    return false;
}

/* Whether the dump contains the printf-formatted text. */
static bool __attribute__((format(printf, 1, 2))) dump_has(const char *fmt, ...)
{
    char want[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(want, sizeof(want), fmt, ap);
    va_end(ap);
    if (!strstr(dump, want)) {
        fprintf(stderr, "no '%s' in the dump:\n%s", want, dump);
        return false;
    }
    return true;
}

/* Both sides of a two-lock cycle meet here before taking their second lock. */
static atomic_int ready;

static void wait_for_both(void)
{
    atomic_fetch_add(&ready, 1);
    while (atomic_load(&ready) < 2) {
        usleep(1000);
    }
}

static CoMutex m1, m2;

static void coroutine_fn lock_m1_then_m2(void *opaque __attribute__((unused)))
{
    qemu_co_mutex_lock(&m1);
    wait_for_both();
    qemu_co_mutex_lock(&m2);
}

static void coroutine_fn lock_m2_then_m1(void *opaque __attribute__((unused)))
{
    qemu_co_mutex_lock(&m2);
    wait_for_both();
    qemu_co_mutex_lock(&m1);
}

/* The iothreads of a hang: never joined (they stay stuck), kept here so
 * that the child exits with them reachable. */
static IOThread *volatile iothreads[2];
static int n_iothreads;

/* Starts `entry` in a new iothread; returns its coroutine. */
static Coroutine *start_on_iothread(CoroutineEntry *entry)
{
    Coroutine *co = qemu_coroutine_create(entry, NULL);
    IOThread *t = iothread_new();

    iothreads[n_iothreads++ % 2] = t;
    aio_co_schedule(iothread_get_aio_context(t), co);
    return co;
}

static void mutex_cycle(void *opaque __attribute__((unused)))
{
    Coroutine *a, *b;

    qemu_co_mutex_init(&m1);
    qemu_co_mutex_init(&m2);
    a = start_on_iothread(lock_m1_then_m2);
    b = start_on_iothread(lock_m2_then_m1);
    CHECK(dump_until("deadlock:"));
    CHECK(dump_has("coroutine %p (entry lock_m1_then_m2, thread ", a));
    CHECK(dump_has("waits for CoMutex %p held by %p", (void *)&m2, b));
    CHECK(dump_has("coroutine %p (entry lock_m2_then_m1, thread ", b));
    CHECK(dump_has("waits for CoMutex %p held by %p", (void *)&m1, a));
    CHECK(dump_has("qemucoro dump: 1 deadlock cycle(s)"));
}

/*
 * Check that two coroutines on two threads taking two CoMutexes in
 * opposite order are both named, with both mutexes, in one cycle.
 */
TEST_OURS(dump_mutex_cycle, "/dump/co-mutex-cycle", OURS)
{
    CHECK(child_passes(mutex_cycle, NULL));
}

static CoRwlock rw;
static CoMutex m;

static void coroutine_fn read_then_lock(void *opaque __attribute__((unused)))
{
    qemu_co_rwlock_rdlock(&rw);
    wait_for_both();
    qemu_co_mutex_lock(&m);
}

static void coroutine_fn lock_then_write(void *opaque __attribute__((unused)))
{
    qemu_co_mutex_lock(&m);
    wait_for_both();
    qemu_co_rwlock_wrlock(&rw);
}

static void rwlock_cycle(void *opaque __attribute__((unused)))
{
    Coroutine *reader, *writer;

    qemu_co_rwlock_init(&rw);
    qemu_co_mutex_init(&m);
    reader = start_on_iothread(read_then_lock);
    writer = start_on_iothread(lock_then_write);
    CHECK(dump_until("deadlock:"));
    CHECK(dump_has("waits for CoMutex %p held by %p", (void *)&m, writer));
    CHECK(dump_has("(entry lock_then_write, thread "));
    CHECK(dump_has("waits for CoRwlock %p (write) held by %p (reader)",
                   (void *)&rw, reader));
}

/*
 * Check that a reader waiting for a CoMutex whose holder waits to write
 * the same CoRwlock is a cycle, with the reader named as the lock's holder.
 */
TEST_OURS(dump_rwlock_cycle, "/dump/co-rwlock-cycle", OURS)
{
    CHECK(child_passes(rwlock_cycle, NULL));
}

static Coroutine *forgotten_co;

static void coroutine_fn forgotten(void *opaque __attribute__((unused)))
{
    qemu_coroutine_yield();     /* nobody keeps the Coroutine * to enter it */
}

static void enter_forgotten(void *opaque __attribute__((unused)))
{
    qemu_coroutine_enter(forgotten_co);
}

/* Runs the main loop, blocking, for about `ms` milliseconds. */
static void run_loop_for(int ms)
{
    int64_t end = qemu_clock_get_ns(QEMU_CLOCK_REALTIME) + ms * 1000000LL;

    while (qemu_clock_get_ns(QEMU_CLOCK_REALTIME) < end) {
        aio_poll(qemu_get_aio_context(), false);
        usleep(10 * 1000);
    }
}

static void lost_wakeup(void *opaque __attribute__((unused)))
{
    AioContext *ctx = qemu_get_aio_context();
    QEMUTimer *t;
    const char *age;
    double secs = -1;

    forgotten_co = qemu_coroutine_create(forgotten, NULL);
    /* entered from a timer, as a loop would: the loop stamps its wake-up */
    t = aio_timer_new(ctx, QEMU_CLOCK_REALTIME, SCALE_MS, enter_forgotten,
                      NULL);
    timer_mod(t, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + 10);
    while (!qemu_coroutine_entered(forgotten_co) && timer_pending(t)) {
        aio_poll(ctx, true);
    }
    timer_free(t);
    run_loop_for(300);
    take_dump();
    CHECK(dump_has("coroutine %p entry forgotten", forgotten_co));
    CHECK(dump_has("entered last by "));
    CHECK(dump_has("(a lost wake-up if no one re-enters it)"));
    age = strstr(dump, "yielded ");
    CHECK(age && sscanf(age, "yielded %lf s ago", &secs) == 1);
    CHECK(secs >= 0.25 && secs < 10);
    if (secs < 0.25 || secs >= 10) {
        fprintf(stderr, "%s", dump);
    }
}

/*
 * Check that a coroutine that yielded with no one left to enter it is
 * shown with its entry, its plain-yield wait, who entered it and its age.
 */
TEST_OURS(dump_lost_wakeup, "/dump/lost-wakeup", OURS)
{
    CHECK(child_passes(lost_wakeup, NULL));
}

static void coroutine_fn sleep_10s(void *opaque __attribute__((unused)))
{
    qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, 10 * 1000000000LL);
}

static void sleeper(void *opaque __attribute__((unused)))
{
    Coroutine *co = qemu_coroutine_create(sleep_10s, NULL);
    const char *p;
    double left = -1;

    qemu_coroutine_enter(co);
    take_dump();
    CHECK(dump_has("coroutine %p entry sleep_10s", co));
    p = strstr(dump, "sleeps ");
    p = p ? strchr(p, ',') : NULL;
    CHECK(p && sscanf(p, ", %lf s left", &left) == 1);
    CHECK(left > 9 && left <= 10);
}

/* Check that a coroutine sleeping 10 s shows the time it has left. */
TEST_OURS(dump_sleep, "/dump/co-sleep-left", OURS)
{
    CHECK(child_passes(sleeper, NULL));
}

static void coroutine_fn wait_readable(void *opaque)
{
    yield_until_fd_readable(*(int *)opaque);
}

static void fd_wait(void *opaque __attribute__((unused)))
{
    int fds[2];
    Coroutine *co;

    CHECK(pipe(fds) == 0);
    co = qemu_coroutine_create(wait_readable, &fds[0]);
    qemu_coroutine_enter(co);
    take_dump();
    CHECK(dump_has("coroutine %p entry wait_readable", co));
    CHECK(dump_has("for fd %d to be readable (AioContext %p)", fds[0],
                   (void *)qemu_get_aio_context()));
    CHECK(write(fds[1], "x", 1) == 1);
    for (int i = 0; i < 100 && strstr(dump, "wait_readable"); i++) {
        aio_poll(qemu_get_aio_context(), false);
        take_dump();
    }
    CHECK(!strstr(dump, "wait_readable"));
}

/* Check that a coroutine waiting for an fd shows the fd and direction,
 * and leaves the dump once the fd is ready and it has run. */
TEST_OURS(dump_fd, "/dump/fd-wait", OURS)
{
    CHECK(child_passes(fd_wait, NULL));
}

#ifndef VS_QEMU
#define CHURN_THREADS 4
#define SIGNALS 8

static atomic_bool stop;
static int real_stderr;

static void coroutine_fn churn_entry(void *opaque)
{
    CoMutex *lock = opaque;

    qemu_co_mutex_lock(lock);
    qemu_coroutine_yield();
    qemu_co_mutex_unlock(lock);
}

static void *churn(void *opaque __attribute__((unused)))
{
    CoMutex lock;

    qemu_co_mutex_init(&lock);
    while (!atomic_load(&stop)) {
        Coroutine *co[8];

        for (int i = 0; i < 8; i++) {
            co[i] = qemu_coroutine_create(churn_entry, &lock);
            qemu_coroutine_enter(co[i]);
        }
        for (int i = 0; i < 8; i++) {
            qemu_coroutine_enter(co[i]);
        }
        /* Under Valgrind, which runs one thread at a time, four spinning
         * threads would otherwise starve the dump thread past the alarm. */
        sched_yield();
    }
    return NULL;
}

/* How many dumps fd holds so far; false if one is inconsistent (its
 * header's count differs from its coroutine lines). The churn's mutex
 * waits may show as short-lived cycles: a snapshot of moving coroutines. */
static bool count_dumps(int fd, int *dumps)
{
    static char text[4 * 1024 * 1024];
    ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
    char *p = text;

    text[n > 0 ? n : 0] = '\0';
    *dumps = 0;
    while ((p = strstr(p, "qemucoro dump: "))) {
        unsigned live, lines = 0;
        char *end;

        if (sscanf(p, "qemucoro dump: %u live", &live) != 1) {
            p++;
            continue;
        }
        end = strstr(p + 1, "qemucoro dump: ");
        if (!end) {
            break;              /* still being written */
        }
        for (char *l = strstr(p, "\ncoroutine 0x"); l && l < end;
             l = strstr(l + 1, "\ncoroutine 0x")) {
            lines++;
        }
        if (lines != live) {
            dprintf(real_stderr, "inconsistent dump: %u live, %u lines:\n%.*s",
                    live, lines, (int)(end - p) + 40, p);
            return false;
        }
        (*dumps)++;
        p = end + 1;
    }
    return true;
}

CHILD(dump_signal_child, "dump-signal-churn")
{
    pthread_t threads[CHURN_THREADS];
    int fd = memfd_create("stderr", MFD_CLOEXEC);
    int dumps = 0;

    real_stderr = dup(2);
    dup2(fd, 2);
    for (int i = 0; i < CHURN_THREADS; i++) {
        pthread_create(&threads[i], NULL, churn, NULL);
    }
    for (int sig = 1; sig <= SIGNALS; sig++) {
        kill(getpid(), SIGUSR2);
        for (int i = 0; i < 500 && dumps < sig; i++) {
            usleep(10 * 1000);
            if (!count_dumps(fd, &dumps)) {
                exit(1);
            }
        }
        if (dumps != sig) {
            exit(2);
        }
    }
    atomic_store(&stop, true);
    for (int i = 0; i < CHURN_THREADS; i++) {
        pthread_join(threads[i], NULL);
    }
    exit(0);
}
#endif

/*
 * Check that QEMUCORO_DUMP_SIGNAL=SIGUSR2 prints a dump for each signal
 * while 4 threads churn coroutines: no crash, no hang, and every dump's
 * count matches its list.
 */
TEST_OURS(dump_signal, "/dump/signal-while-churning", OURS)
{
    CHECK(exec_child_succeeds("dump-signal-churn",
                              "QEMUCORO_DUMP_SIGNAL=SIGUSR2"));
}
