/*
 * libqemucoro.so loaded with dlopen, used on threads, and unloaded with
 * dlclose, twice: afterwards nothing of the library is left in the process
 * (its SIGSEGV handler, signal stacks, thread-exit hooks), so the
 * program's own SIGSEGV handler gets the next fault. Its own runner, built
 * without the library; LIBQEMUCORO_SO is the shared library's path.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#define _GNU_SOURCE
#include "harness.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct Coroutine Coroutine;
typedef void CoroutineEntry(void *);

typedef struct {
    Coroutine *(*create)(CoroutineEntry *, void *);
    void (*enter)(Coroutine *);
    void (*yield)(void);
} Api;

static void say(const char *msg)
{
    if (write(STDERR_FILENO, msg, strlen(msg)) < 0) {
        _exit(3);
    }
}

static void program_handler(int sig, siginfo_t *info, void *uctx)
{
    (void)sig, (void)info, (void)uctx;
    say("program handler saw SIGSEGV\n");
    abort();
}

static void yield_once(void *opaque)
{
    ((Api *)opaque)->yield();
}

static void *use_library(void *opaque)
{
    Api *api = opaque;
    Coroutine *co[4];

    for (int i = 0; i < 4; i++) {
        co[i] = api->create(yield_once, api);
        api->enter(co[i]);
    }
    for (int i = 0; i < 4; i++) {
        api->enter(co[i]);
    }
    return NULL;
}

/* dlopen, two threads use coroutines and exit, dlclose; the library must
 * then really be gone. */
static void load_use_unload(void)
{
    void *lib = dlopen(LIBQEMUCORO_SO, RTLD_NOW | RTLD_LOCAL);
    pthread_t t[2];
    Api api;

    if (!lib) {
        say("dlopen failed\n");
        abort();
    }
    api.create = (Coroutine *(*)(CoroutineEntry *, void *))dlsym(lib, "qemu_coroutine_create");
    api.enter = (void (*)(Coroutine *))dlsym(lib, "qemu_coroutine_enter");
    api.yield = (void (*)(void))dlsym(lib, "qemu_coroutine_yield");
    for (int i = 0; i < 2; i++) {
        pthread_create(&t[i], NULL, use_library, &api);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
    }
    if (dlclose(lib) != 0 || dlopen(LIBQEMUCORO_SO, RTLD_NOW | RTLD_NOLOAD)) {
        say("libqemucoro.so stayed loaded after dlclose\n");
        abort();
    }
}

static int *volatile bad_pointer;

/* A page of ours that faults: memcheck does not count a write the kernel
 * refuses there as an error (as it would one through NULL). */
static void arm_bad_pointer(void)
{
    bad_pointer = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void unload_twice_then_fault(void *opaque)
{
    struct sigaction sa;

    (void)opaque;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = program_handler;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, NULL);
    load_use_unload();
    load_use_unload();
    arm_bad_pointer();
    *bad_pointer = 1;
}

/* Check that after two rounds of dlopen, use on threads and dlclose, a
 * fault reaches the handler the program installed before the first
 * dlopen. */
TEST(fault_after_unload_reaches_program, "/dlclose/program-handler-after-unload")
{
    CHECK(child_aborts_with(unload_twice_then_fault, NULL,
                            "program handler saw SIGSEGV"));
}

static void unload_twice_then_fault_unhandled(void *opaque)
{
    (void)opaque;
    load_use_unload();
    load_use_unload();
    arm_bad_pointer();
    close(STDERR_FILENO);
    *bad_pointer = 1;
}

/* Check that with no program handler such a fault is the default SIGSEGV
 * (no loop through a stale handler). */
TEST(fault_after_unload_is_default, "/dlclose/default-sigsegv-after-unload")
{
    CHECK(child_dies_with(unload_twice_then_fault_unhandled, NULL, SIGSEGV,
                          NULL));
}

static void unload_twice_then_fork(void *opaque)
{
    int status;
    pid_t pid;

    (void)opaque;
    load_use_unload();
    load_use_unload();
    pid = fork();
    if (pid == 0) {
        _exit(0);
    }
    waitpid(pid, &status, 0);
    say(WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "forked after unload\n"
                                                       : "child of fork failed\n");
    abort();
}

/* Check that the library's fork handlers went with it: fork works after
 * the unloads (a handler left behind would jump into unmapped code). */
TEST(fork_after_unload, "/dlclose/fork-after-unload")
{
    CHECK(child_aborts_with(unload_twice_then_fork, NULL, "forked after unload"));
}
