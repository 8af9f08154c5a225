/*
 * Coroutine benchmarks over QEMU's public API. The same source is linked
 * against qemucoro and against QEMU's own implementation (BENCH_QEMU), and
 * bench/run.py runs the two in turn.
 *
 * Each run prints one "name value" line per figure: nanoseconds per
 * operation, or for the memory test bytes and mappings per coroutine.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifdef BENCH_QEMU
#include "qemu/osdep.h"
#include "qemu/coroutine.h"
#else
#define _GNU_SOURCE
#include "qemu/coroutine.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#endif
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
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
    double t0 = now_ns();
    while (i > 0) {
        dummy(&i);
    }
    return (now_ns() - t0) / n;
}

static void coroutine_fn empty_coroutine(void *opaque)
{
    (void)opaque;
}

/* create + enter + return */
static double bench_lifecycle(void)
{
    const unsigned long n = 2000000;
    double t0 = now_ns();
    for (unsigned long i = 0; i < n; i++) {
        qemu_coroutine_enter(qemu_coroutine_create(empty_coroutine, NULL));
    }
    return (now_ns() - t0) / n;
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
    double t0 = now_ns();
    while (i > 0) {
        qemu_coroutine_enter(co);
    }
    double ns = (now_ns() - t0) / n;
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
    double t0 = now_ns();
    for (unsigned long i = 0; i < n; i++) {
        Coroutine *co = qemu_coroutine_create(yield_once, NULL);
        qemu_coroutine_enter(co);
        qemu_coroutine_enter(co);
    }
    return (now_ns() - t0) / n;
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
    double t0 = now_ns();
    for (unsigned i = 0; i < cycles; i++) {
        NestData nd = { .max = depth };
        qemu_coroutine_enter(qemu_coroutine_create(nest, &nd));
    }
    return (now_ns() - t0) / ((double)cycles * depth);
}

static long resident_bytes(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) {
            rss = 0;
        }
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

static long mapping_count(void)
{
    long lines = 0;
    int c;
    FILE *f = fopen("/proc/self/maps", "r");
    if (f) {
        while ((c = fgetc(f)) != EOF) {
            lines += c == '\n';
        }
        fclose(f);
    }
    return lines;
}

/* RSS and mappings per coroutine with `n` suspended at once. */
static void bench_memory(unsigned long n)
{
    Coroutine **cos = calloc(n, sizeof(*cos));
    long rss0 = resident_bytes(), maps0 = mapping_count();

    for (unsigned long i = 0; i < n; i++) {
        cos[i] = qemu_coroutine_create(yield_once, NULL);
        qemu_coroutine_enter(cos[i]);
    }
    long rss1 = resident_bytes(), maps1 = mapping_count();
    for (unsigned long i = 0; i < n; i++) {
        qemu_coroutine_enter(cos[i]);
    }
    printf("memory/suspended %lu\n", n);
    printf("memory/rss-per-coroutine %.0f\n", (double)(rss1 - rss0) / n);
    printf("memory/maps-per-coroutine %.3f\n", (double)(maps1 - maps0) / n);
    free(cos);
}

#ifndef BENCH_QEMU
double qemucoro_bench_floor_corosensei(unsigned long iters);
double qemucoro_bench_floor_context(unsigned long iters);
double qemucoro_bench_floor_corosensei_nested2(unsigned long iters);
double qemucoro_bench_floor_corosensei_nested(unsigned long iters);
#endif

static const struct {
    const char *name;
    double (*fn)(void);
} benches[] = {
    { "perf/function-call", bench_function_call },
    { "perf/lifecycle", bench_lifecycle },
    { "perf/yield", bench_yield },
    { "perf/cost", bench_cost },
    { "perf/nesting", bench_nesting },
};

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--memory") == 0) {
        bench_memory(strtoul(argv[2], NULL, 10));
        return 0;
    }
    for (size_t i = 0; i < sizeof(benches) / sizeof(benches[0]); i++) {
        printf("%s %.2f\n", benches[i].name, benches[i].fn());
        fflush(stdout);
    }
#ifndef BENCH_QEMU
    printf("floor/corosensei %.2f\n", qemucoro_bench_floor_corosensei(20000000));
    printf("floor/context %.2f\n", qemucoro_bench_floor_context(20000000));
    printf("floor/corosensei-nested %.2f\n", qemucoro_bench_floor_corosensei_nested(20000000));
    printf("floor/corosensei-nested2 %.2f\n", qemucoro_bench_floor_corosensei_nested2(20000000));
#endif
    return 0;
}
