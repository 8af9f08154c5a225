/*
 * Seeded randomised stress test of the coroutine core: the driver and the
 * single-thread mode.
 *
 * A driver and the coroutines themselves pick random actions from one
 * seeded generator: create, enter (from the driver or nested inside another
 * coroutine), yield, terminate. A model of what each coroutine should be
 * doing is checked against the library all the way:
 *   - no double entry: a coroutine's body is never resumed while running;
 *   - exact counters: each body ran exactly as often as it was entered, and
 *     qemucoro_get_stats() counts exactly the unfinished coroutines;
 *   - qemu_coroutine_self()/qemu_in_coroutine()/qemu_coroutine_entered()
 *     agree with the model's chain of entered coroutines;
 *   - every coroutine finishes: a final drain enters what is left until all
 *     bodies have returned.
 * Everything is deterministic given the seed, so a failure prints the seed
 * and `stress --seed N` (make stress SEED=N) replays it exactly.
 *
 * A second mode (stress-threads.c) runs seeded scripts of coroutines on 4
 * iothreads with CoMutex, CoRwlock, CoQueue, aio_co_wake and moves between
 * the threads; there the seed fixes every script, not the interleaving.
 *
 *   stress [--seed N] [--ops N] [--workers N] [--rounds N] [--seconds N]
 *          [--mode single|threads|both]
 *
 * One round is --ops driver steps of the single-thread mode, then a round
 * of --workers coroutines of the 4-thread mode, from one seed (--mode picks
 * one of them). Each further round takes the next seed of a sequence:
 * --rounds of them, and more until --seconds have passed (unless --seed
 * is given). Without --seed the first seed comes from the clock.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/coroutine.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "stress.h"

#define DEFAULT_OPS 50000
#define DEFAULT_WORKERS 256
#define MAX_TASKS 128
#define MAX_DEPTH 24
#define MAX_STEPS 64          /* steps a body takes before it must return */

enum { FREE, CREATED, SUSPENDED, ENTERED };

typedef struct Task {
    Coroutine *co;
    int state;
    unsigned enters;          /* times the model entered it */
    unsigned resumes;         /* times its body saw itself resumed */
    unsigned steps;
    bool running;
} Task;

static Task tasks[MAX_TASKS];
static Task *chain[MAX_DEPTH + 1];   /* the entered coroutines, outermost first */
static int depth;
static int max_depth_seen;
static unsigned long live, created, finished;
static unsigned long op;
static uint64_t rng;
static uint64_t round_seed;
static bool draining;
static QemucoroStats baseline;
static const char *program;
static unsigned long ops_per_round = DEFAULT_OPS, workers_per_round = DEFAULT_WORKERS;

#define ASSERT(cond)                                                        \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fail(__LINE__, #cond);                                          \
        }                                                                   \
    } while (0)

/* The command line that reruns a round: same seed, same sizes. */
void stress_print_replay(uint64_t seed)
{
    fprintf(stderr, "stress: seed %" PRIu64 "; replay with: ", seed);
    if (ops_per_round == DEFAULT_OPS && workers_per_round == DEFAULT_WORKERS) {
        fprintf(stderr, "make stress SEED=%" PRIu64 " (or ", seed);
    }
    fprintf(stderr, "%s --seed %" PRIu64 " --ops %lu --workers %lu%s\n", program, seed,
            ops_per_round, workers_per_round,
            ops_per_round == DEFAULT_OPS && workers_per_round == DEFAULT_WORKERS ? ")" : "");
}

static void fail(int line, const char *expr)
{
    fprintf(stderr, "stress: FAILED at op %lu: stress.c:%d: %s\n", op, line, expr);
    stress_print_replay(round_seed);
    abort();
}

/* splitmix64: small, fast, and every seed gives a good sequence. */
uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t next_random(void)
{
    return splitmix64(&rng);
}

static unsigned below(unsigned n)
{
    return next_random() % n;
}

static void check_chain(void)
{
    Task *top = depth ? chain[depth - 1] : NULL;

    ASSERT(qemu_in_coroutine() == (depth > 0));
    if (top) {
        ASSERT(qemu_coroutine_self() == top->co);
    }
    for (int i = 0; i < depth; i++) {
        ASSERT(qemu_coroutine_entered(chain[i]->co));
    }
}

static void check_counts(void)
{
    QemucoroStats now;

    qemucoro_get_stats(&now);
    ASSERT(now.live == baseline.live + live);
    ASSERT(created - finished == live);
}

static void coroutine_fn body(void *opaque);

static void create_task(Task *t)
{
    ASSERT(t->state == FREE);
    *t = (Task){ .co = qemu_coroutine_create(body, t), .state = CREATED };
    live++;
    created++;
}

static void enter_task(Task *t)
{
    ASSERT(t->state == CREATED || t->state == SUSPENDED);
    ASSERT(!qemu_coroutine_entered(t->co));
    ASSERT(depth < MAX_DEPTH);
    chain[depth++] = t;
    if (depth > max_depth_seen) {
        max_depth_seen = depth;
    }
    t->state = ENTERED;
    t->enters++;
    qemu_coroutine_enter(t->co);
    ASSERT(chain[depth - 1] == t);
    depth--;
    ASSERT(t->state == SUSPENDED || t->state == FREE);
    check_chain();
}

/* A random task that may be entered now, or NULL. */
static Task *pick_enterable(void)
{
    Task *t = &tasks[below(MAX_TASKS)];

    return t->state == CREATED || t->state == SUSPENDED ? t : NULL;
}

static void nest(void)
{
    Task *t = &tasks[below(MAX_TASKS)];

    if (depth >= MAX_DEPTH) {
        return;
    }
    if (t->state == FREE && !draining) {
        create_task(t);
        enter_task(t);
    } else if (t->state == CREATED || t->state == SUSPENDED) {
        enter_task(t);
    }
}

static void coroutine_fn body(void *opaque)
{
    Task *me = opaque;

    for (;;) {
        ASSERT(!me->running);           /* no double entry */
        me->running = true;
        me->resumes++;
        ASSERT(me->resumes == me->enters);
        ASSERT(me->state == ENTERED);
        check_chain();

        unsigned r = below(100);
        if (++me->steps >= MAX_STEPS || r < (draining ? 50 : 10)) {
            me->running = false;
            me->state = FREE;
            live--;
            finished++;
            return;
        }
        if (r < 45) {
            nest();
            ASSERT(qemu_coroutine_self() == me->co);
        }
        me->running = false;
        me->state = SUSPENDED;
        qemu_coroutine_yield();
    }
}

static void drain(void)
{
    draining = true;
    while (live) {
        for (int i = 0; i < MAX_TASKS; i++) {
            if (tasks[i].state == CREATED || tasks[i].state == SUSPENDED) {
                enter_task(&tasks[i]);
            }
        }
    }
    for (int i = 0; i < MAX_TASKS; i++) {
        ASSERT(tasks[i].state == FREE);
        ASSERT(!tasks[i].running);
    }
    check_counts();
    draining = false;
}

static void run_round(uint64_t seed, unsigned long ops)
{
    round_seed = rng = seed;
    memset(tasks, 0, sizeof(tasks));
    max_depth_seen = 0;
    created = finished = 0;
    qemucoro_get_stats(&baseline);
    for (op = 0; op < ops; op++) {
        Task *t = &tasks[below(MAX_TASKS)];
        if (t->state == FREE) {
            create_task(t);
        } else if ((t = pick_enterable())) {
            enter_task(t);
        }
        check_chain();
        if (op % 64 == 0) {
            check_counts();
        }
    }
    drain();
    printf("stress: seed %" PRIu64 ": %lu ops, %lu coroutines, max depth %d: ok\n",
           seed, ops, created, max_depth_seen);
    fflush(stdout);
}

static int usage(void)
{
    fprintf(stderr, "usage: %s [--seed N] [--ops N] [--workers 1..4096] [--rounds N] "
            "[--seconds N] [--mode single|threads|both]\n", program);
    return 2;
}

int main(int argc, char **argv)
{
    uint64_t seed = 0;
    bool have_seed = false;
    bool single = true, threads = true;
    unsigned long seconds = 0, rounds = 1, round = 0;
    time_t end;

    program = argv[0];
    if (argc % 2 == 0) {
        return usage();
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--seed")) {
            seed = strtoull(argv[i + 1], NULL, 0);
            have_seed = true;
        } else if (!strcmp(argv[i], "--ops")) {
            ops_per_round = strtoul(argv[i + 1], NULL, 0);
        } else if (!strcmp(argv[i], "--workers")) {
            workers_per_round = strtoul(argv[i + 1], NULL, 0);
        } else if (!strcmp(argv[i], "--rounds")) {
            rounds = strtoul(argv[i + 1], NULL, 0);
        } else if (!strcmp(argv[i], "--seconds")) {
            seconds = strtoul(argv[i + 1], NULL, 0);
        } else if (!strcmp(argv[i], "--mode") &&
                   (!strcmp(argv[i + 1], "single") || !strcmp(argv[i + 1], "threads") ||
                    !strcmp(argv[i + 1], "both"))) {
            single = strcmp(argv[i + 1], "threads") != 0;
            threads = strcmp(argv[i + 1], "single") != 0;
        } else {
            return usage();
        }
    }
    if (workers_per_round < 1 || workers_per_round > 4096) {
        return usage();
    }
    if (!have_seed) {
        seed = (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)clock();
    }
    end = time(NULL) + seconds;
    do {
        if (single) {
            run_round(seed, ops_per_round);
        }
        if (threads) {
            stress_threads_round(seed, workers_per_round);
        }
        rng = seed;
        seed = next_random();
    } while (++round < rounds || (!have_seed && time(NULL) < end));
    return 0;
}
