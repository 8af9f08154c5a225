/*
 * Coroutine benchmarks over QEMU's public API. The same source is linked
 * against qemucoro and against QEMU's own implementation (BENCH_QEMU), and
 * bench/compare.py runs the two in turn (the raw switch floors are a
 * program of their own, bench/floor/).
 *
 * Each run prints one "name value" line per figure: nanoseconds per
 * operation, or for the memory test bytes and mappings per coroutine.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifdef BENCH_QEMU
#include "qemu/osdep.h"
#include "qemu/coroutine.h"
#include "qemu/main-loop.h"
#include "qapi/error.h"
#else
#define _GNU_SOURCE
#include "qemu/coroutine.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#endif
#include "block/aio.h"
#include "iothread.h"      /* QEMU's unit-test helper: iothread_new etc. */
#include <stdatomic.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "../c-tests/proc-self.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/*
 * The single-thread figures count this thread's CPU time, not wall time:
 * on a shared machine the thread is often descheduled, and wall time
 * would charge that to whichever side happened to be running. The
 * cross-thread figures need wall time (they wait for each other).
 */
static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* The baseline: a call the compiler cannot inline. */
static __attribute__((noinline)) void dummy(unsigned long *i)
{
    (*i)--;
    __asm__ volatile("" ::: "memory");
}

static double bench_function_call(void)
{
    unsigned long i = 50000000, n = i;
    double t0 = cpu_ns();
    while (i > 0) {
        dummy(&i);
    }
    return (cpu_ns() - t0) / n;
}

static void coroutine_fn empty_coroutine(void *opaque)
{
    (void)opaque;
}

/* create + enter + return */
static double bench_lifecycle(void)
{
    const unsigned long n = 2000000;
    double t0 = cpu_ns();
    for (unsigned long i = 0; i < n; i++) {
        qemu_coroutine_enter(qemu_coroutine_create(empty_coroutine, NULL));
    }
    return (cpu_ns() - t0) / n;
}

static void coroutine_fn yield_loop(void *opaque)
{
    unsigned long *counter = opaque;
    while (*counter > 0) {
        (*counter)--;
        qemu_coroutine_yield();
    }
}

/* enter + yield, one round trip */
static double bench_yield(void)
{
    unsigned long i = 20000000, n = i;
    Coroutine *co = qemu_coroutine_create(yield_loop, &i);
    double t0 = cpu_ns();
    while (i > 0) {
        qemu_coroutine_enter(co);
    }
    double ns = (cpu_ns() - t0) / n;
    qemu_coroutine_enter(co);       /* let it return */
    return ns;
}

static __attribute__((noinline)) void coroutine_fn yield_once(void *opaque)
{
    (void)opaque;
    qemu_coroutine_yield();
}

/* create + enter + yield + enter (return) */
static double bench_cost(void)
{
    const unsigned long n = 5000000;
    double t0 = cpu_ns();
    for (unsigned long i = 0; i < n; i++) {
        Coroutine *co = qemu_coroutine_create(yield_once, NULL);
        qemu_coroutine_enter(co);
        qemu_coroutine_enter(co);
    }
    return (cpu_ns() - t0) / n;
}

typedef struct {
    unsigned n_enter;
    unsigned max;
} NestData;

static void coroutine_fn nest(void *opaque)
{
    NestData *nd = opaque;
    if (++nd->n_enter < nd->max) {
        qemu_coroutine_enter(qemu_coroutine_create(nest, nd));
    }
}

/* 1000-deep nesting, per coroutine */
static double bench_nesting(void)
{
    const unsigned cycles = 300, depth = 1000;
    double t0 = cpu_ns();
    for (unsigned i = 0; i < cycles; i++) {
        NestData nd = { .max = depth };
        qemu_coroutine_enter(qemu_coroutine_create(nest, &nd));
    }
    return (cpu_ns() - t0) / ((double)cycles * depth);
}

typedef struct {
    CoMutex lock;
    unsigned long n;
    double ns;
} MutexLoop;

static void coroutine_fn lock_unlock_loop(void *opaque)
{
    MutexLoop *m = opaque;
    double t0 = cpu_ns();
    for (unsigned long i = 0; i < m->n; i++) {
        qemu_co_mutex_lock(&m->lock);
        qemu_co_mutex_unlock(&m->lock);
    }
    m->ns = (cpu_ns() - t0) / m->n;
}

/* CoMutex lock + unlock with nobody else around */
static double bench_co_mutex_uncontended(void)
{
    MutexLoop m = { .n = 20000000 };
    qemu_co_mutex_init(&m.lock);
    qemu_coroutine_enter(qemu_coroutine_create(lock_unlock_loop, &m));
    return m.ns;
}

/* Waits (politely) until *flag is set by another thread. */
static void wait_for(atomic_int *flag)
{
    while (!atomic_load(flag)) {
        usleep(100);
    }
}

/*
 * The cross-thread rows pin their two iothreads, both to one CPU or each to
 * its own: left to the scheduler, whether they share a CPU changes from run
 * to run, and a hop cost about 1.2 us on one CPU and 30 us across two on
 * an idle 2-core VM, so unpinned rows read 5-19 us a hop, which swamped
 * any difference between the libraries.
 */
typedef struct {
    int cpu;
    atomic_int done;
} Pin;

static void coroutine_fn pin_here(void *opaque)
{
    Pin *p = opaque;
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(p->cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
        fprintf(stderr, "bench: cannot pin an iothread to CPU %d\n", p->cpu);
        exit(1);
    }
    atomic_store(&p->done, 1);
}

/* Pins iothread t to cpu, from its own thread. */
static void pin_iothread(IOThread *t, int cpu)
{
    Pin p = { .cpu = cpu };
    aio_co_schedule(iothread_get_aio_context(t), qemu_coroutine_create(pin_here, &p));
    wait_for(&p.done);
}

/* The nth CPU this process may run on, or -1. */
static int allowed_cpu(int nth)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof(set), &set) != 0) {
        return -1;
    }
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (CPU_ISSET(cpu, &set) && nth-- == 0) {
            return cpu;
        }
    }
    return -1;
}

/* Starts two iothreads, on one CPU (cpus == 1) or two; false if there is
 * no second. */
static bool start_pinned(IOThread *t[2], int cpus)
{
    int cpu[2] = { allowed_cpu(0), allowed_cpu(cpus - 1) };
    if (cpu[0] < 0 || cpu[1] < 0) {
        return false;
    }
    for (int i = 0; i < 2; i++) {
        t[i] = iothread_new();
        pin_iothread(t[i], cpu[i]);
    }
    return true;
}

typedef struct {
    AioContext *ctx[2];
    unsigned long hops;
    atomic_int done;
} PingPong;

static void coroutine_fn hop(void *opaque)
{
    PingPong *p = opaque;
    /*
     * aio_co_reschedule_self, not aio_co_schedule(other, self) + yield:
     * the other thread could enter us before we yield. It schedules us from
     * a bottom half in the old context, after the yield, as QEMU does.
     */
    for (unsigned long i = 0; i < p->hops; i++) {
        aio_co_reschedule_self(p->ctx[i & 1]);
    }
    atomic_store(&p->done, 1);
}

/* one coroutine moved back and forth between two iothreads by
 * aio_co_schedule (through aio_co_reschedule_self), per hop; -1 if the
 * machine lacks the CPUs */
static double co_schedule_ping_pong(int cpus)
{
    IOThread *t[2];
    if (!start_pinned(t, cpus)) {
        return -1;
    }
    PingPong p = { .hops = 100000 };
    p.ctx[0] = iothread_get_aio_context(t[0]);
    p.ctx[1] = iothread_get_aio_context(t[1]);

    double t0 = now_ns();
    aio_co_schedule(p.ctx[1], qemu_coroutine_create(hop, &p));
    wait_for(&p.done);
    double ns = (now_ns() - t0) / p.hops;
    iothread_join(t[0]);
    iothread_join(t[1]);
    return ns;
}

typedef struct {
    CoMutex lock;
    unsigned long per_thread;
    unsigned long counter;
    atomic_int finished;
} Contended;

static void coroutine_fn contend(void *opaque)
{
    Contended *c = opaque;
    for (unsigned long i = 0; i < c->per_thread; i++) {
        qemu_co_mutex_lock(&c->lock);
        c->counter++;
        qemu_co_mutex_unlock(&c->lock);
    }
    atomic_fetch_add(&c->finished, 1);
}

/* CoMutex lock + unlock by coroutines on two iothreads at once; -1 if the
 * machine lacks the CPUs */
static double co_mutex_contended(int cpus)
{
    IOThread *t[2];
    if (!start_pinned(t, cpus)) {
        return -1;
    }
    Contended c = { .per_thread = 500000 };
    qemu_co_mutex_init(&c.lock);

    double t0 = now_ns();
    for (int i = 0; i < 2; i++) {
        aio_co_schedule(iothread_get_aio_context(t[i]),
                        qemu_coroutine_create(contend, &c));
    }
    while (atomic_load(&c.finished) < 2) {
        usleep(100);
    }
    double ns = (now_ns() - t0) / (2.0 * c.per_thread);
    iothread_join(t[0]);
    iothread_join(t[1]);
    if (c.counter != 2 * c.per_thread) {
        fprintf(stderr, "bench: CoMutex lost updates (%lu)\n", c.counter);
        exit(1);
    }
    return ns;
}

static double bench_co_mutex_contended_1cpu(void) { return co_mutex_contended(1); }
static double bench_co_mutex_contended_2cpu(void) { return co_mutex_contended(2); }
static double bench_co_schedule_ping_pong_1cpu(void) { return co_schedule_ping_pong(1); }
static double bench_co_schedule_ping_pong_2cpu(void) { return co_schedule_ping_pong(2); }

typedef struct {
    unsigned long n;
    double ns;
    atomic_int done;
} SleepLoop;

static void coroutine_fn sleep_zero_loop(void *opaque)
{
    SleepLoop *s = opaque;
    double t0 = now_ns();
    for (unsigned long i = 0; i < s->n; i++) {
        qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, 0);
    }
    s->ns = (now_ns() - t0) / s->n;
    atomic_store(&s->done, 1);
}

/* qemu_co_sleep_ns(0) in an iothread: a timer armed and fired by the loop */
static double bench_co_sleep_zero(void)
{
    IOThread *t = iothread_new();
    SleepLoop s = { .n = 200000 };

    aio_co_schedule(iothread_get_aio_context(t),
                    qemu_coroutine_create(sleep_zero_loop, &s));
    wait_for(&s.done);
    iothread_join(t);
    return s.ns;
}

/* --- Event loop rows: a bottom half and an fd handler on the
 * main context, each one loop iteration per operation. --- */

static void count_bh(void *opaque)
{
    (*(unsigned long *)opaque)++;
}

/* qemu_bh_schedule + aio_poll(ctx, false) that runs it */
static double bench_bh_schedule_poll(void)
{
    AioContext *ctx = qemu_get_aio_context();
    unsigned long n = 2000000, ran = 0;
    QEMUBH *bh = aio_bh_new(ctx, count_bh, &ran);

    double t0 = now_ns();
    for (unsigned long i = 0; i < n; i++) {
        qemu_bh_schedule(bh);
        aio_poll(ctx, false);
    }
    double ns = (now_ns() - t0) / n;
    qemu_bh_delete(bh);
    aio_poll(ctx, false);
    if (ran != n) {
        fprintf(stderr, "bench: %lu of %lu bottom halves ran\n", ran, n);
        exit(1);
    }
    return ns;
}

typedef struct {
    int fd;
    unsigned long reads;
} PipeReader;

static void read_byte(void *opaque)
{
    PipeReader *r = opaque;
    char c;
    if (read(r->fd, &c, 1) == 1) {
        r->reads++;
    }
}

/* write a byte to a pipe + blocking aio_poll whose read handler takes it */
static double bench_fd_handler_pipe(void)
{
    AioContext *ctx = qemu_get_aio_context();
    unsigned long n = 300000;
    int fds[2];
    PipeReader r = { 0, 0 };

    if (pipe(fds) < 0) {
        exit(1);
    }
    r.fd = fds[0];
    aio_set_fd_handler(ctx, fds[0], read_byte, NULL, NULL, NULL, &r);
    double t0 = now_ns();
    for (unsigned long i = 0; i < n; i++) {
        if (write(fds[1], "x", 1) != 1) {
            exit(1);
        }
        aio_poll(ctx, true);
    }
    double ns = (now_ns() - t0) / n;
    aio_set_fd_handler(ctx, fds[0], NULL, NULL, NULL, NULL, NULL);
    close(fds[0]);
    close(fds[1]);
    if (r.reads != n) {
        fprintf(stderr, "bench: %lu of %lu pipe reads\n", r.reads, n);
        exit(1);
    }
    return ns;
}

/* --- fd event latency with busy polling off and on: the main thread
 * sets an EventNotifier watched by an iothread and spins until the
 * iothread's handler has acknowledged it; one round trip per operation.
 * With polling on, the iothread's io_poll sees the sequence number move
 * before the eventfd wakes it. The two threads are pinned to two CPUs
 * (a poller sharing the sender's CPU only delays it); no row without a
 * second CPU. --- */

typedef struct {
    EventNotifier n;            /* first: the handlers get &n */
    atomic_ulong sent;
    atomic_ulong acked;
} FdEvent;

static void fd_event_ack(EventNotifier *n)
{
    FdEvent *e = (FdEvent *)n;

    event_notifier_test_and_clear(n);
    atomic_store(&e->acked, atomic_load(&e->sent));
}

static bool fd_event_poll(void *opaque)
{
    FdEvent *e = opaque;

    return atomic_load_explicit(&e->sent, memory_order_relaxed) !=
           atomic_load_explicit(&e->acked, memory_order_relaxed);
}

static double fd_event_latency(int64_t poll_max_ns)
{
    int cpu[2] = { allowed_cpu(0), allowed_cpu(1) };
    static FdEvent e;
    unsigned long n = 50000;
    cpu_set_t all, one;

    if (cpu[1] < 0 || sched_getaffinity(0, sizeof(all), &all) != 0) {
        return -1;
    }
    IOThread *t = iothread_new();
    AioContext *ctx = iothread_get_aio_context(t);
    pin_iothread(t, cpu[1]);
    CPU_ZERO(&one);
    CPU_SET(cpu[0], &one);
    pthread_setaffinity_np(pthread_self(), sizeof(one), &one);

    atomic_store(&e.sent, 0);
    atomic_store(&e.acked, 0);
    event_notifier_init(&e.n, 0);
    aio_context_set_poll_params(ctx, poll_max_ns, 0, 0, &error_abort);
    aio_set_event_notifier(ctx, &e.n, fd_event_ack, fd_event_poll, fd_event_ack);
    double t0 = now_ns();
    for (unsigned long i = 1; i <= n; i++) {
        atomic_store(&e.sent, i);
        event_notifier_set(&e.n);
        while (atomic_load(&e.acked) != i) {
            /* spin: this thread has its CPU */
        }
    }
    double ns = (now_ns() - t0) / n;
    pthread_setaffinity_np(pthread_self(), sizeof(all), &all);
    aio_set_event_notifier(ctx, &e.n, NULL, NULL, NULL);
    iothread_join(t);
    event_notifier_cleanup(&e.n);
    return ns;
}

static double bench_fd_event_poll_off(void) { return fd_event_latency(0); }
/* QEMU's default poll-max-ns for an iothread (x86). */
static double bench_fd_event_poll_on(void) { return fd_event_latency(32768); }

/* RSS and mappings per coroutine with `n` suspended at once. */
static void bench_memory(unsigned long n)
{
    Coroutine **cos = calloc(n, sizeof(*cos));
    long rss0 = proc_resident_bytes(), maps0 = proc_mapping_count();

    for (unsigned long i = 0; i < n; i++) {
        cos[i] = qemu_coroutine_create(yield_once, NULL);
        qemu_coroutine_enter(cos[i]);
    }
    long rss1 = proc_resident_bytes(), maps1 = proc_mapping_count();
    for (unsigned long i = 0; i < n; i++) {
        qemu_coroutine_enter(cos[i]);
    }
    printf("memory/suspended %lu\n", n);
    printf("memory/rss-per-coroutine %.0f\n", (double)(rss1 - rss0) / n);
    printf("memory/maps-per-coroutine %.3f\n", (double)(maps1 - maps0) / n);
    free(cos);
}

/* --- Scale (N coroutines suspended at once) and bursts (RSS kept after
 * deep coroutines ended) ------------------------------------------------ */

static void coroutine_fn yield_forever(void *opaque)
{
    unsigned long *stop = opaque;
    while (!*stop) {
        qemu_coroutine_yield();
    }
}

/* This thread's CPU time: the scale rows run for seconds, on a machine
 * that may be shared; page faults count (the kernel's time is the thread's). */
static double thread_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* xorshift64: the same pseudo-random order for both builds */
static unsigned long next_random(unsigned long *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/*
 * One write to each of `slots` fresh slots `stride` bytes apart, mapped
 * lazily as stacks are: the kernel's share of a create (a page of stack,
 * and a page table for each 2 MiB), the floor for scale/create. Thread CPU
 * ns per slot. On a virtual machine whose host backs guest memory only
 * when it is first written (and takes back what the guest frees), this
 * grows with the memory the process already holds: a million coroutines
 * hold about 6 GiB.
 */
static double first_touch_ns(unsigned long slots, size_t stride)
{
    char *p = mmap(NULL, slots * stride, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        perror("bench: mmap");
        exit(1);
    }
    double t0 = thread_ns();
    for (unsigned long i = 0; i < slots; i++) {
        p[(i + 1) * stride - 64] = 1;
    }
    double ns = (thread_ns() - t0) / slots;
    munmap(p, slots * stride);
    return ns;
}

/*
 * `n` coroutines suspended at once: the cost of creating (and first
 * entering, which is where a new stack's page is faulted in) the last
 * 10,000 of them, an enter + yield on a random suspended one (both in
 * thread CPU time), and the RSS and mappings they hold.
 */
static void bench_scale(unsigned long n)
{
    const unsigned long tail = n < 10000 ? n : 10000, hops = 1000000;
    Coroutine **cos = calloc(n, sizeof(*cos));
    unsigned long stop = 0, x = 88172645463325252UL;
    long rss0 = proc_resident_bytes(), maps0 = proc_mapping_count();
    double t0 = 0;

    for (unsigned long i = 0; i < n; i++) {
        if (i == n - tail) {
            t0 = thread_ns();
        }
        cos[i] = qemu_coroutine_create(yield_forever, &stop);
        qemu_coroutine_enter(cos[i]);
    }
    double create_ns = (thread_ns() - t0) / tail;
    long rss1 = proc_resident_bytes(), maps1 = proc_mapping_count();
    double touch_ns = first_touch_ns(tail, (1 << 20) + sysconf(_SC_PAGESIZE));

    t0 = thread_ns();
    for (unsigned long i = 0; i < hops; i++) {
        qemu_coroutine_enter(cos[next_random(&x) % n]);
    }
    double random_ns = (thread_ns() - t0) / hops;

    stop = 1;
    for (unsigned long i = 0; i < n; i++) {
        qemu_coroutine_enter(cos[i]);
    }
    printf("scale/create %.2f\n", create_ns);
    printf("scale/random-enter-yield %.2f\n", random_ns);
    printf("scale/first-touch %.2f\n", touch_ns);
    printf("scale/rss-per-coroutine %.0f\n", (double)(rss1 - rss0) / n);
    printf("scale/mappings %ld\n", maps1);
    printf("scale/mappings-added %ld\n", maps1 - maps0);
    free(cos);
}

#define BURST_N 8192
#define BURST_STACK (64 * 1024)

/* Writes `BURST_STACK` bytes of stack, then yields once. */
static void coroutine_fn burst_worker(void *opaque)
{
    volatile char frame[BURST_STACK - 4096];
    for (size_t i = 0; i < sizeof(frame); i += 256) {
        frame[i] = 1;
    }
    (void)opaque;
    qemu_coroutine_yield();
}

/* BURST_N coroutines that each use 64 KiB of stack, live at once, then
 * all finish. */
static void burst(void)
{
    static __thread Coroutine *cos[BURST_N];
    for (int i = 0; i < BURST_N; i++) {
        cos[i] = qemu_coroutine_create(burst_worker, NULL);
        qemu_coroutine_enter(cos[i]);
    }
    for (int i = 0; i < BURST_N; i++) {
        qemu_coroutine_enter(cos[i]);
    }
}

typedef struct {
    atomic_int bursts_done;
    atomic_int release;
} IdleThreads;

static void *burst_then_idle(void *opaque)
{
    IdleThreads *t = opaque;
    burst();
    atomic_fetch_add(&t->bursts_done, 1);
    wait_for(&t->release);
    return NULL;
}

/*
 * RSS kept after bursts: once on the main thread, then on `threads`
 * threads, one after another, that stay alive and idle afterwards.
 */
static void bench_burst(int threads)
{
    long rss0 = proc_resident_bytes();
    burst();
    long rss1 = proc_resident_bytes();
    IdleThreads t = { 0 };
    pthread_t tid[threads];
    for (int i = 0; i < threads; i++) {
        pthread_create(&tid[i], NULL, burst_then_idle, &t);
        while (atomic_load(&t.bursts_done) <= i) {
            usleep(1000);
        }
    }
    long rss2 = proc_resident_bytes();
    atomic_store(&t.release, 1);
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
    }
    printf("burst/rss-after-one-mib %.1f\n", (rss1 - rss0) / 1048576.0);
    printf("burst/rss-after-idle-threads-mib %.1f\n", (rss2 - rss0) / 1048576.0);
}

static const struct {
    const char *name;
    double (*fn)(void);
} benches[] = {
    { "perf/function-call", bench_function_call },
    { "perf/lifecycle", bench_lifecycle },
    { "perf/yield", bench_yield },
    { "perf/cost", bench_cost },
    { "perf/nesting", bench_nesting },
    { "lock/co-mutex-uncontended", bench_co_mutex_uncontended },
    { "lock/co-mutex-contended-1cpu", bench_co_mutex_contended_1cpu },
    { "lock/co-mutex-contended-2cpu", bench_co_mutex_contended_2cpu },
    { "aio/co-schedule-ping-pong-1cpu", bench_co_schedule_ping_pong_1cpu },
    { "aio/co-schedule-ping-pong-2cpu", bench_co_schedule_ping_pong_2cpu },
    { "aio/co-sleep-0", bench_co_sleep_zero },
    { "aio/bh-schedule-poll", bench_bh_schedule_poll },
    { "aio/fd-handler-pipe", bench_fd_handler_pipe },
    { "aio/fd-event-poll-off", bench_fd_event_poll_off },
    { "aio/fd-event-poll-on", bench_fd_event_poll_on },
};

int main(int argc, char **argv)
{
#ifdef BENCH_QEMU
    qemu_init_main_loop(&error_abort);
#endif
    if (argc == 3 && strcmp(argv[1], "--memory") == 0) {
        bench_memory(strtoul(argv[2], NULL, 10));
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--scale") == 0) {
        bench_scale(strtoul(argv[2], NULL, 10));
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--burst") == 0) {
        bench_burst(atoi(argv[2]));
        return 0;
    }
    const char *only = argc == 2 ? argv[1] : "";
    for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++) {
        if (strncmp(benches[i].name, only, strlen(only)) != 0) {
            continue;
        }
        double v = benches[i].fn();
        if (v >= 0) {
            printf("%s %.2f\n", benches[i].name, v);
            fflush(stdout);
        }
    }
    return 0;
}
