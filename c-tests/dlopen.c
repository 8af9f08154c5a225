/*
 * `make check-dlopen`: a program that does not link libqemucoro loads it
 * with dlopen(), as a plugin would, and runs coroutines on the thread that
 * existed before the load and on one started after it. The library's hot
 * per-thread state uses the initial-exec TLS model, which a dlopen()ed
 * library gets from glibc's static TLS surplus; this proves the load
 * succeeds and each thread gets its own state.
 *
 * Usage: dlopen PATH-TO-libqemucoro.so   (prints "dlopen: ok")
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct Coroutine Coroutine;
typedef void Entry(void *opaque);

static Coroutine *(*co_create)(Entry *entry, void *opaque);
static void (*co_enter)(Coroutine *co);
static void (*co_yield)(void);
static Coroutine *(*co_self)(void);
static bool (*in_co)(void);

static void fail(const char *what)
{
    fprintf(stderr, "dlopen: %s\n", what);
    exit(1);
}

static void *sym(void *lib, const char *name)
{
    void *p = dlsym(lib, name);
    if (!p) {
        fail(dlerror());
    }
    return p;
}

static void count_twice(void *opaque)
{
    int *n = opaque;
    if (!in_co()) {
        fail("not in a coroutine inside one");
    }
    (*n)++;
    co_yield();
    (*n)++;
}

/* Runs a coroutine through yield and return; returns the leader seen. */
static void *run_one(void *unused)
{
    int n = 0;
    Coroutine *leader = co_self();
    Coroutine *co = co_create(count_twice, &n);

    (void)unused;
    co_enter(co);
    if (n != 1 || in_co() || co_self() != leader) {
        fail("wrong state after the yield");
    }
    co_enter(co);
    if (n != 2 || co_self() != leader) {
        fail("wrong state after the return");
    }
    return leader;
}

int main(int argc, char **argv)
{
    void *lib, *main_leader, *thread_leader;
    pthread_t t;

    if (argc != 2) {
        fail("usage: dlopen PATH-TO-libqemucoro.so");
    }
    lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fail(dlerror());
    }
    co_create = sym(lib, "qemu_coroutine_create");
    co_enter = sym(lib, "qemu_coroutine_enter");
    co_yield = sym(lib, "qemu_coroutine_yield");
    co_self = sym(lib, "qemu_coroutine_self");
    in_co = sym(lib, "qemu_in_coroutine");

    main_leader = run_one(NULL);
    if (pthread_create(&t, NULL, run_one, NULL) != 0 || pthread_join(t, &thread_leader) != 0) {
        fail("pthread");
    }
    if (thread_leader == main_leader) {
        fail("two threads share one leader");
    }
    printf("dlopen: ok\n");
    return 0;
}
