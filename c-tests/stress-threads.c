/*
 * The 4-thread mode of the stress test: coroutines running seeded random
 * scripts on 4 iothreads, sharing one CoMutex, one CoRwlock and one CoQueue
 * and moving between the threads.
 *
 * Each worker coroutine draws its script (which operations, how many, to
 * which thread it moves) from its own generator, seeded from the round's
 * seed, so `stress --seed N` reruns the same scripts; only the interleaving
 * of the threads differs from run to run. What is checked:
 *   - CoMutex: never two coroutines inside; the counter it protects ends
 *     exactly at the sum of every worker's increments;
 *   - CoRwlock (rdlock, wrlock, upgrade, downgrade): no reader while a
 *     writer is inside, at most one writer; the write counter is exact;
 *   - CoQueue with the CoMutex: a model FIFO (with CO_QUEUE_WAIT_FRONT)
 *     says who qemu_co_queue_next must wake; every waiter resumes woken
 *     by someone, qemu_co_queue_next's result and qemu_co_queue_empty match;
 *   - yield with aio_co_wake from another coroutine: a parked coroutine is
 *     resumed only after it was woken, and in the context it parked in;
 *   - aio_co_reschedule_self: afterwards the coroutine runs in the target
 *     context, on that iothread's thread; aio_co_schedule of itself in its
 *     own context brings it back there;
 *   - nested create/enter inside a worker, with yields and re-entry after
 *     the worker moved to another thread: each body is resumed exactly as
 *     often as it was entered, never twice at once;
 *   - every coroutine finishes: workers (and those they spawn, through
 *     aio_co_schedule or aio_co_enter into a random context) are counted,
 *     and the library's count of live coroutines returns to where it was.
 * Nothing can deadlock by construction: no operation waits while holding a
 * lock other than the queue's, and a waker coroutine wakes every parked and
 * queued coroutine whenever the workers have made no progress for a
 * millisecond. A lost wake-up is therefore a hang, which a watchdog reports
 * (with what each unfinished worker is doing) after 60 s without progress.
 * Scripts also sleep (qemu_co_sleep_ns). A failure prints the seed and the
 * command line that replays its scripts (make stress SEED=N by default).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/coroutine.h"
#include "block/aio.h"
#include "iothread.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "stress.h"

#define THREADS 4
#define MAX_STEPS 64            /* a script has 1..MAX_STEPS operations */
#define GENERATIONS 3           /* spawned workers spawn at most 2 deep */
#define MAX_SPAWNS 2            /* spawns per worker */
#define NEST_DEPTH 3
#define WATCHDOG_SECONDS 60
#define KICK_NS 1000000         /* the waker's period */

enum { NOT_PARKED, PARKED, WOKEN };

typedef enum Op {
    OP_MUTEX, OP_READ, OP_WRITE, OP_UPGRADE, OP_DOWNGRADE, OP_QUEUE_WAIT,
    OP_QUEUE_WAKE, OP_PARK, OP_UNPARK, OP_MOVE, OP_SCHEDULE_SELF, OP_NEST,
    OP_SPAWN, OP_SLEEP, N_OPS
} Op;

static const struct {
    const char *name;
    unsigned weight;
} ops[N_OPS] = {
    [OP_MUTEX] = { "mutex", 14 },
    [OP_READ] = { "rdlock", 10 },
    [OP_WRITE] = { "wrlock", 6 },
    [OP_UPGRADE] = { "upgrade", 4 },
    [OP_DOWNGRADE] = { "downgrade", 4 },
    [OP_QUEUE_WAIT] = { "queue wait", 8 },
    [OP_QUEUE_WAKE] = { "queue wake", 10 },
    [OP_PARK] = { "park", 6 },
    [OP_UNPARK] = { "unpark", 8 },
    [OP_MOVE] = { "move", 12 },
    [OP_SCHEDULE_SELF] = { "schedule self", 4 },
    [OP_NEST] = { "nest", 8 },
    [OP_SPAWN] = { "spawn", 3 },
    [OP_SLEEP] = { "sleep", 2 },
};

typedef struct Worker {
    unsigned index;
    unsigned generation;
    unsigned spawns;
    uint64_t rng;               /* touched only by the worker itself */
    Coroutine *co;
    atomic_bool running;
    atomic_bool finished;
    _Atomic(const char *) doing;
    atomic_uint step;
    atomic_int park;            /* NOT_PARKED, PARKED, WOKEN */
    bool queue_woken;           /* protected by the CoMutex */
    unsigned long mutex_incs;   /* what it added to mutex_counter */
    unsigned long write_incs;   /* what it added to write_counter */
} Worker;

/* A coroutine created and entered inside a worker (or inside another). */
typedef struct Child {
    Worker *w;
    Coroutine *co;
    Coroutine *parent;
    uint64_t rng;
    unsigned depth;
    unsigned enters, resumes;
    bool running, done;
} Child;

static uint64_t round_seed;
static AioContext *ctxs[THREADS];
static atomic_long tids[THREADS];

static Worker *workers;
static unsigned max_workers;
static atomic_uint n_workers;               /* created so far */
static atomic_uint n_finished;
static atomic_ulong progress;               /* script steps done */
static atomic_bool waker_done;

static CoMutex mutex;
static long mutex_counter;                  /* protected by mutex */
static atomic_int mutex_inside;
static unsigned long kick_incs;             /* the waker's, under mutex */

static CoRwlock rwlock;
static long write_counter;                  /* protected by rwlock */
static atomic_int readers, writers;

static CoQueue queue;                       /* with mutex */
static Worker **model_queue;                /* its waiters, oldest first */
static unsigned model_waiting;

static pthread_mutex_t lot_lock = PTHREAD_MUTEX_INITIALIZER;
static Worker **lot;                        /* parked workers */
static unsigned lot_size;

static atomic_ulong n_moves, n_queue_wakes, n_ordered_wakes, n_unparks, n_nested, n_kicks;

#define CHECK(w, cond)                                                      \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fail((w), __LINE__, #cond);                                     \
        }                                                                   \
    } while (0)

static void fail(Worker *w, int line, const char *expr)
{
    if (w) {
        fprintf(stderr, "stress: FAILED in threads mode, worker %u step %u (%s): ",
                w->index, atomic_load(&w->step), atomic_load(&w->doing));
    } else {
        fprintf(stderr, "stress: FAILED in threads mode: ");
    }
    fprintf(stderr, "stress-threads.c:%d: %s\n", line, expr);
    stress_print_replay(round_seed);
    abort();
}

static unsigned below(Worker *w, unsigned n)
{
    return splitmix64(&w->rng) % n;
}

static int context_index(AioContext *ctx)
{
    for (int i = 0; i < THREADS; i++) {
        if (ctxs[i] == ctx) {
            return i;
        }
    }
    return -1;
}

static long gettid_now(void)
{
    /* not pthread_self(): its const attribute lets the compiler reuse the
     * value from before a move to another thread */
    return syscall(SYS_gettid);
}

/* Around every call that may yield: the body must not run meanwhile. */
static void suspend(Worker *w)
{
    CHECK(w, atomic_exchange(&w->running, false));
}

static void resume(Worker *w)
{
    CHECK(w, !atomic_exchange(&w->running, true));
    CHECK(w, qemu_coroutine_self() == w->co);
    CHECK(w, context_index(qemu_get_current_aio_context()) >= 0);
}

static void move_to(Worker *w, int target)
{
    suspend(w);
    aio_co_reschedule_self(ctxs[target]);
    resume(w);
    CHECK(w, qemu_get_current_aio_context() == ctxs[target]);
    CHECK(w, gettid_now() == atomic_load(&tids[target]));
    atomic_fetch_add(&n_moves, 1);
}

/* Sometimes move to another thread while holding a lock. */
static void maybe_move(Worker *w)
{
    if (below(w, 4) == 0) {
        move_to(w, below(w, THREADS));
    }
}

static void mutex_lock(Worker *w)
{
    suspend(w);
    qemu_co_mutex_lock(&mutex);
    resume(w);
    CHECK(w, atomic_fetch_add(&mutex_inside, 1) == 0);
}

static void mutex_unlock(Worker *w)
{
    CHECK(w, atomic_fetch_sub(&mutex_inside, 1) == 1);
    qemu_co_mutex_unlock(&mutex);
}

static void op_mutex(Worker *w)
{
    mutex_lock(w);
    mutex_counter++;
    w->mutex_incs++;
    maybe_move(w);
    mutex_unlock(w);
}

static void read_lock(Worker *w)
{
    suspend(w);
    qemu_co_rwlock_rdlock(&rwlock);
    resume(w);
}

static void write_lock(Worker *w)
{
    suspend(w);
    qemu_co_rwlock_wrlock(&rwlock);
    resume(w);
}

/* Counters go up after taking the lock and down before releasing it. */
static void reader_in(Worker *w)
{
    atomic_fetch_add(&readers, 1);
    CHECK(w, atomic_load(&writers) == 0);
}

static void reader_out(Worker *w)
{
    CHECK(w, atomic_load(&writers) == 0);
    CHECK(w, atomic_fetch_sub(&readers, 1) > 0);
}

static void writer_in(Worker *w)
{
    CHECK(w, atomic_fetch_add(&writers, 1) == 0);
    CHECK(w, atomic_load(&readers) == 0);
    write_counter++;
    w->write_incs++;
}

static void writer_out(Worker *w)
{
    CHECK(w, atomic_load(&readers) == 0);
    CHECK(w, atomic_fetch_sub(&writers, 1) == 1);
}

static void op_read(Worker *w)
{
    read_lock(w);
    reader_in(w);
    maybe_move(w);
    reader_out(w);
    qemu_co_rwlock_unlock(&rwlock);
}

static void op_write(Worker *w)
{
    write_lock(w);
    writer_in(w);
    maybe_move(w);
    writer_out(w);
    qemu_co_rwlock_unlock(&rwlock);
}

static void op_upgrade(Worker *w)
{
    read_lock(w);
    reader_in(w);
    maybe_move(w);
    reader_out(w);
    suspend(w);
    qemu_co_rwlock_upgrade(&rwlock);
    resume(w);
    writer_in(w);
    writer_out(w);
    qemu_co_rwlock_unlock(&rwlock);
}

static void op_downgrade(Worker *w)
{
    write_lock(w);
    writer_in(w);
    writer_out(w);
    qemu_co_rwlock_downgrade(&rwlock);
    reader_in(w);
    maybe_move(w);
    reader_out(w);
    qemu_co_rwlock_unlock(&rwlock);
}

/* Wait on the queue until another coroutine (or the waker) wakes us. */
static void op_queue_wait(Worker *w)
{
    bool front = below(w, 4) == 0;

    mutex_lock(w);
    mutex_counter++;
    w->mutex_incs++;
    w->queue_woken = false;
    if (front) {
        memmove(&model_queue[1], &model_queue[0], model_waiting * sizeof(Worker *));
        model_queue[0] = w;
    } else {
        model_queue[model_waiting] = w;
    }
    model_waiting++;
    CHECK(w, atomic_fetch_sub(&mutex_inside, 1) == 1);
    suspend(w);
    qemu_co_queue_wait_flags(&queue, &mutex, front ? CO_QUEUE_WAIT_FRONT : 0);
    resume(w);
    CHECK(w, atomic_fetch_add(&mutex_inside, 1) == 0);
    CHECK(w, w->queue_woken);
    mutex_unlock(w);
}

/* Under mutex: what qemu_co_queue_next must have woken. */
static void model_wake_first(Worker *w)
{
    Worker *first = model_queue[0];

    CHECK(w, !first->queue_woken);
    first->queue_woken = true;
    model_waiting--;
    memmove(&model_queue[0], &model_queue[1], model_waiting * sizeof(Worker *));
}

static void model_wake_all(Worker *w)
{
    while (model_waiting) {
        model_wake_first(w);
    }
    CHECK(w, qemu_co_queue_empty(&queue));
}

static void op_queue_wake(Worker *w)
{
    bool all = below(w, 4) == 0;

    mutex_lock(w);
    mutex_counter++;
    w->mutex_incs++;
    CHECK(w, qemu_co_queue_empty(&queue) == (model_waiting == 0));
    if (all) {
        atomic_fetch_add(&n_queue_wakes, model_waiting);
        qemu_co_queue_restart_all(&queue);
        model_wake_all(w);
    } else {
        bool expected = model_waiting > 0;

        CHECK(w, qemu_co_queue_next(&queue) == expected);
        if (model_waiting > 1) {
            atomic_fetch_add(&n_ordered_wakes, 1);
        }
        if (expected) {
            model_wake_first(w);
            atomic_fetch_add(&n_queue_wakes, 1);
        }
    }
    maybe_move(w);
    mutex_unlock(w);
}

/*
 * Yield until another coroutine wakes us with aio_co_wake. Publishing
 * before yielding is safe because we stay in our context until the yield:
 * a waker on another thread schedules us there, and that thread's loop
 * cannot enter us before we have yielded.
 */
static void op_park(Worker *w)
{
    AioContext *here = qemu_get_current_aio_context();

    pthread_mutex_lock(&lot_lock);
    CHECK(w, atomic_exchange(&w->park, PARKED) == NOT_PARKED);
    lot[lot_size++] = w;
    pthread_mutex_unlock(&lot_lock);
    suspend(w);
    qemu_coroutine_yield();
    resume(w);
    CHECK(w, atomic_exchange(&w->park, NOT_PARKED) == WOKEN);
    CHECK(w, qemu_get_current_aio_context() == here);
}

/* Takes the parked worker at `i` out of the lot; call with lot_lock. */
static Worker *unpark_at(Worker *w, unsigned i)
{
    Worker *p = lot[i];

    lot[i] = lot[--lot_size];
    CHECK(w, atomic_exchange(&p->park, WOKEN) == PARKED);
    atomic_fetch_add(&n_unparks, 1);
    return p;
}

static void op_unpark(Worker *w)
{
    unsigned pick = below(w, 1000);
    Worker *p = NULL;

    pthread_mutex_lock(&lot_lock);
    if (lot_size) {
        p = unpark_at(w, pick % lot_size);
    }
    pthread_mutex_unlock(&lot_lock);
    if (p) {
        aio_co_wake(p->co);
    }
}

/* aio_co_schedule of ourselves in our own context, then yield. */
static void op_schedule_self(Worker *w)
{
    AioContext *here = qemu_get_current_aio_context();

    suspend(w);
    aio_co_schedule(here, qemu_coroutine_self());
    qemu_coroutine_yield();
    resume(w);
    CHECK(w, qemu_get_current_aio_context() == here);
}

static void coroutine_fn child_body(void *opaque);

static void enter_child(Child *c)
{
    c->enters++;
    qemu_coroutine_enter(c->co);
    CHECK(c->w, qemu_coroutine_self() == c->parent);
    CHECK(c->w, !c->running);
    CHECK(c->w, c->resumes == c->enters);
}

/*
 * Creates a child and enters it until it returns. Only a worker itself
 * (depth 0) moves to another thread between entries: a child that moved
 * would take its parent's thread with it.
 */
static void nest(Worker *w, Coroutine *parent, uint64_t *rng, unsigned depth)
{
    Child c = {
        .w = w, .parent = parent, .rng = splitmix64(rng), .depth = depth + 1,
    };

    c.co = qemu_coroutine_create(child_body, &c);
    atomic_fetch_add(&n_nested, 1);
    do {
        enter_child(&c);
        if (!c.done && depth == 0 && splitmix64(rng) % 2) {
            move_to(w, splitmix64(rng) % THREADS);
        }
    } while (!c.done);
}

static void coroutine_fn child_body(void *opaque)
{
    Child *c = opaque;
    unsigned yields = splitmix64(&c->rng) % 3;

    for (;;) {
        CHECK(c->w, !c->running);
        c->running = true;
        c->resumes++;
        CHECK(c->w, c->resumes == c->enters);
        CHECK(c->w, qemu_coroutine_self() == c->co);
        CHECK(c->w, qemu_coroutine_entered(c->parent));
        if (c->depth < NEST_DEPTH && splitmix64(&c->rng) % 2) {
            nest(c->w, c->co, &c->rng, c->depth);
            CHECK(c->w, qemu_coroutine_self() == c->co);
        }
        c->running = false;
        if (yields-- == 0) {
            c->done = true;
            return;
        }
        qemu_coroutine_yield();
    }
}

static void op_nest(Worker *w)
{
    nest(w, w->co, &w->rng, 0);
    CHECK(w, qemu_coroutine_self() == w->co);
}

static void coroutine_fn worker_body(void *opaque);

/*
 * Starts a worker from `seed` in context `where`: scheduled there, or with
 * `enter`, through aio_co_enter (which from a coroutine in `where` itself
 * runs it right after that coroutine next yields).
 */
static void start_worker(Worker *parent, uint64_t seed, unsigned generation, int where,
                         bool enter)
{
    unsigned i = atomic_fetch_add(&n_workers, 1);
    Worker *w;

    CHECK(parent, i < max_workers);
    w = &workers[i];
    w->index = i;
    w->generation = generation;
    w->rng = seed;
    atomic_store(&w->doing, "not started");
    w->co = qemu_coroutine_create(worker_body, w);
    if (enter) {
        aio_co_enter(ctxs[where], w->co);
    } else {
        aio_co_schedule(ctxs[where], w->co);
    }
}

static void op_spawn(Worker *w)
{
    if (w->generation + 1 < GENERATIONS && w->spawns < MAX_SPAWNS) {
        w->spawns++;
        start_worker(w, splitmix64(&w->rng), w->generation + 1, below(w, THREADS),
                     below(w, 2));
    }
}

static Op pick_op(Worker *w)
{
    unsigned total = 0, r;

    for (int i = 0; i < N_OPS; i++) {
        total += ops[i].weight;
    }
    r = below(w, total);
    for (int i = 0; i < N_OPS; i++) {
        if (r < ops[i].weight) {
            return i;
        }
        r -= ops[i].weight;
    }
    abort();
}

static void run_op(Worker *w, Op op)
{
    switch (op) {
    case OP_MUTEX: op_mutex(w); break;
    case OP_READ: op_read(w); break;
    case OP_WRITE: op_write(w); break;
    case OP_UPGRADE: op_upgrade(w); break;
    case OP_DOWNGRADE: op_downgrade(w); break;
    case OP_QUEUE_WAIT: op_queue_wait(w); break;
    case OP_QUEUE_WAKE: op_queue_wake(w); break;
    case OP_PARK: op_park(w); break;
    case OP_UNPARK: op_unpark(w); break;
    case OP_MOVE: move_to(w, below(w, THREADS)); break;
    case OP_SCHEDULE_SELF: op_schedule_self(w); break;
    case OP_NEST: op_nest(w); break;
    case OP_SPAWN: op_spawn(w); break;
    case OP_SLEEP:
        suspend(w);
        qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, below(w, 20000));
        resume(w);
        break;
    default: abort();
    }
}

static void coroutine_fn worker_body(void *opaque)
{
    Worker *w = opaque;
    unsigned steps = 1 + below(w, MAX_STEPS);

    resume(w);
    for (unsigned i = 0; i < steps; i++) {
        Op op = pick_op(w);

        atomic_store(&w->step, i);
        atomic_store(&w->doing, ops[op].name);
        run_op(w, op);
        CHECK(w, atomic_load(&w->running));
        atomic_fetch_add(&progress, 1);
    }
    atomic_store(&w->doing, "finished");
    suspend(w);
    atomic_store(&w->finished, true);
    atomic_fetch_add(&n_finished, 1);
}

static bool all_finished(void)
{
    return atomic_load(&n_finished) == atomic_load(&n_workers);
}

/*
 * Wakes every parked and queued worker: the way out of any stall. Waking
 * under lot_lock is fine: aio_co_wake from a coroutine never switches.
 */
static void kick(Worker *me)
{
    mutex_lock(me);
    kick_incs++;
    mutex_counter++;
    atomic_fetch_add(&n_queue_wakes, model_waiting);
    qemu_co_queue_restart_all(&queue);
    model_wake_all(me);
    mutex_unlock(me);

    pthread_mutex_lock(&lot_lock);
    while (lot_size) {
        aio_co_wake(unpark_at(me, 0)->co);
    }
    pthread_mutex_unlock(&lot_lock);
    atomic_fetch_add(&n_kicks, 1);
}

/* The waker: a coroutine of its own, with a Worker record for the checks. */
static void coroutine_fn waker_body(void *opaque)
{
    Worker *me = opaque;
    unsigned long last = ~0UL;

    resume(me);
    while (!all_finished()) {
        unsigned long now = atomic_load(&progress);

        if (now == last) {
            kick(me);
        }
        last = now;
        suspend(me);
        qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, KICK_NS);
        resume(me);
        move_to(me, below(me, THREADS));
    }
    suspend(me);
    atomic_store(&waker_done, true);
}

static void record_tid(void *opaque)
{
    atomic_store((atomic_long *)opaque, gettid_now());
}

static void report_hang(void)
{
    fprintf(stderr, "stress: HANG in threads mode: no progress for %d s; "
            "%u of %u workers finished, waker %s\n",
            WATCHDOG_SECONDS, atomic_load(&n_finished), atomic_load(&n_workers),
            atomic_load(&waker_done) ? "done" : "running");
    fprintf(stderr, "stress: mutex inside %d, readers %d, writers %d, "
            "queued %u (model), parked %u\n", atomic_load(&mutex_inside),
            atomic_load(&readers), atomic_load(&writers), model_waiting, lot_size);
    for (unsigned i = 0; i < atomic_load(&n_workers); i++) {
        Worker *w = &workers[i];

        if (!atomic_load(&w->finished)) {
            static const char *const park[] = { "", ", parked", ", woken, not resumed" };

            fprintf(stderr, "stress:   worker %u: step %u, %s%s\n",
                    i, atomic_load(&w->step), atomic_load(&w->doing),
                    park[atomic_load(&w->park)]);
        }
    }
    stress_print_replay(round_seed);
    abort();
}

/* Sleeps until every worker and the waker are done, or reports a hang. */
static void wait_for_round(void)
{
    unsigned long last = atomic_load(&progress);
    time_t last_change = time(NULL);

    while (!atomic_load(&waker_done)) {
        unsigned long now;

        nanosleep(&(struct timespec){ .tv_nsec = 2000000 }, NULL);
        now = atomic_load(&progress);
        if (now != last) {
            last = now;
            last_change = time(NULL);
        } else if (time(NULL) - last_change >= WATCHDOG_SECONDS) {
            report_hang();
        }
    }
}

static void reset_round(uint64_t seed, unsigned initial)
{
    round_seed = seed;
    max_workers = initial * 7 + 1;      /* 1 + 2 + 4 per initial worker */
    workers = calloc(max_workers + 1, sizeof(Worker));
    model_queue = calloc(max_workers + 1, sizeof(Worker *));
    lot = calloc(max_workers + 1, sizeof(Worker *));
    if (!workers || !model_queue || !lot) {
        fail(NULL, __LINE__, "out of memory");
    }
    atomic_store(&n_workers, 0);
    atomic_store(&n_finished, 0);
    atomic_store(&progress, 0);
    atomic_store(&waker_done, false);
    mutex_counter = write_counter = 0;
    kick_incs = 0;
    model_waiting = lot_size = 0;
    atomic_store(&n_moves, 0);
    atomic_store(&n_queue_wakes, 0);
    atomic_store(&n_ordered_wakes, 0);
    atomic_store(&n_unparks, 0);
    atomic_store(&n_nested, 0);
    atomic_store(&n_kicks, 0);
    qemu_co_mutex_init(&mutex);
    qemu_co_rwlock_init(&rwlock);
    qemu_co_queue_init(&queue);
}

static void check_round(const QemucoroStats *baseline)
{
    unsigned long mutex_incs = kick_incs, write_incs = 0;
    QemucoroStats now;

    CHECK(NULL, all_finished());
    for (unsigned i = 0; i < atomic_load(&n_workers); i++) {
        CHECK(&workers[i], atomic_load(&workers[i].finished));
        CHECK(&workers[i], atomic_load(&workers[i].park) == NOT_PARKED);
        mutex_incs += workers[i].mutex_incs;
        write_incs += workers[i].write_incs;
    }
    CHECK(NULL, mutex_counter == (long)mutex_incs);
    CHECK(NULL, write_counter == (long)write_incs);
    CHECK(NULL, model_waiting == 0 && qemu_co_queue_empty(&queue));
    CHECK(NULL, lot_size == 0);
    CHECK(NULL, !atomic_load(&mutex_inside) && !atomic_load(&readers) &&
          !atomic_load(&writers));
    qemucoro_get_stats(&now);
    CHECK(NULL, now.live == baseline->live);
}

void stress_threads_round(uint64_t seed, unsigned initial)
{
    IOThread *threads[THREADS];
    Worker *waker;
    QemucoroStats baseline;
    uint64_t rng = seed;

    reset_round(seed, initial);
    qemucoro_get_stats(&baseline);
    for (int i = 0; i < THREADS; i++) {
        threads[i] = iothread_new();
        ctxs[i] = iothread_get_aio_context(threads[i]);
        atomic_store(&tids[i], 0);
        aio_bh_schedule_oneshot(ctxs[i], record_tid, &tids[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        while (!atomic_load(&tids[i])) {
            nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
        }
    }

    waker = &workers[max_workers];      /* the spare record */
    waker->index = max_workers;
    waker->rng = splitmix64(&rng);
    atomic_store(&waker->doing, "waker");
    waker->co = qemu_coroutine_create(waker_body, waker);
    for (unsigned i = 0; i < initial; i++) {
        start_worker(NULL, splitmix64(&rng), 0, i % THREADS, false);
    }
    aio_co_schedule(ctxs[0], waker->co);
    wait_for_round();
    for (int i = 0; i < THREADS; i++) {
        iothread_join(threads[i]);
    }
    check_round(&baseline);

    printf("stress: seed %" PRIu64 ": threads: %u coroutines, %lu steps, %lu moves, "
           "%lu nested, %lu queue wakes (%lu among several), %lu unparks, %lu kicks: ok\n",
           seed, atomic_load(&n_workers), atomic_load(&progress), atomic_load(&n_moves),
           atomic_load(&n_nested), atomic_load(&n_queue_wakes), atomic_load(&n_ordered_wakes),
           atomic_load(&n_unparks),
           atomic_load(&n_kicks));
    fflush(stdout);
    free(workers);
    free(model_queue);
    free(lot);
}
