/*
 * Coroutine stack overflow is reported, and other faults still reach the
 * host program's SIGSEGV handling. Its own binary: the parent never touches
 * coroutines, so every forked child starts with the library's signal
 * handler not yet installed, as a fresh program does.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/coroutine.h"
#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define OVERFLOW_MESSAGE(fn) \
    "Co-routine stack overflow: entry function " fn ", stack size 1048576 bytes"

static volatile int keep_going = 1;

static int recurse(int depth)
{
    volatile char pad[512];

    pad[0] = depth;
    if (!keep_going) {
        return 0;
    }
    return recurse(depth + 1) + pad[0];
}

/* Not static: dladdr names only dynamic symbols (we link with -rdynamic). */
void coroutine_fn overflow_recurse(void *opaque);
void coroutine_fn overflow_recurse(void *opaque)
{
    (void)opaque;
    recurse(0);
}

static void run_coroutine(void *entry)
{
    qemu_coroutine_enter(qemu_coroutine_create((CoroutineEntry *)entry, NULL));
}

/* Check that an overflow names the entry function and the stack size. */
TEST(overflow_reported, "/overflow/reported")
{
    CHECK(child_aborts_with(run_coroutine, overflow_recurse,
                            OVERFLOW_MESSAGE("overflow_recurse")));
}

void coroutine_fn overflow_in_nested(void *opaque);
void coroutine_fn overflow_in_nested(void *opaque)
{
    (void)opaque;
    run_coroutine(overflow_recurse);
}

/* Check that the coroutine that overflowed is named, not its caller. */
TEST(overflow_names_inner_coroutine, "/overflow/nested")
{
    CHECK(child_aborts_with(run_coroutine, overflow_in_nested,
                            OVERFLOW_MESSAGE("overflow_recurse")));
}

static void coroutine_fn overflow_unnamed(void *opaque)
{
    (void)opaque;
    recurse(0);
}

/* Check that an entry function dladdr cannot name (static, so not a
 * dynamic symbol) is given by address. */
TEST(overflow_names_address, "/overflow/address-without-symbol")
{
    char expected[128];

    snprintf(expected, sizeof(expected),
             "Co-routine stack overflow: entry function at %p, "
             "stack size 1048576 bytes", (void *)overflow_unnamed);
    CHECK(child_aborts_with(run_coroutine, overflow_unnamed, expected));
}

static void *overflow_thread(void *opaque)
{
    run_coroutine(opaque);
    return NULL;
}

static void run_in_thread(void *entry)
{
    pthread_t t;

    pthread_create(&t, NULL, overflow_thread, entry);
    pthread_join(t, NULL);
}

/* Check that a thread created by C, with no signal stack of its own, gets
 * one and reports its overflow. */
TEST(overflow_in_c_thread, "/overflow/c-thread")
{
    CHECK(child_aborts_with(run_in_thread, overflow_recurse,
                            OVERFLOW_MESSAGE("overflow_recurse")));
}

static int *volatile bad_pointer;

static void coroutine_fn write_to_null(void *opaque)
{
    (void)opaque;
    *bad_pointer = 1;
}

static void host_handler(int sig)
{
    static const char msg[] = "host handler saw SIGSEGV\n";

    (void)sig;
    if (write(STDERR_FILENO, msg, strlen(msg)) < 0) {
        _exit(2);
    }
    abort();
}

static void fault_with_host_handler(void *opaque)
{
    (void)opaque;
    signal(SIGSEGV, host_handler);
    run_coroutine(write_to_null);
}

/* Check that a fault that is not an overflow reaches the handler the host
 * program installed before using coroutines. */
TEST(other_fault_reaches_host_handler, "/overflow/chains-to-host-handler")
{
    CHECK(child_aborts_with(fault_with_host_handler, NULL,
                            "host handler saw SIGSEGV"));
}

/* Check that without a host handler such a fault kills the process with
 * SIGSEGV, silently, as it would without the library. */
TEST(other_fault_is_default_sigsegv, "/overflow/default-sigsegv")
{
    int status;
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        close(STDERR_FILENO);
        run_coroutine(write_to_null);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
}
