/*
 * Coroutine stack overflow is reported, and other faults still reach the
 * host program's SIGSEGV handling. Its own binary: the parent never touches
 * coroutines, so every forked child starts with the library's signal
 * handler not yet installed, as a fresh program does.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#define _GNU_SOURCE
#include "qemu/coroutine.h"
#include "harness.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
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

static void coroutine_fn overflow_in_static(void *opaque)
{
    (void)opaque;
    recurse(0);
}

/* Check that a static entry function (no dynamic symbol, so dladdr could
 * not name it) is named from the executable's symbol table. */
TEST(overflow_names_static_function, "/overflow/static-entry-named")
{
    CHECK(child_aborts_with(run_coroutine, overflow_in_static,
                            OVERFLOW_MESSAGE("overflow_in_static")));
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
static void fault_without_host_handler(void *opaque)
{
    (void)opaque;
    close(STDERR_FILENO);
    run_coroutine(write_to_null);
}

TEST(other_fault_is_default_sigsegv, "/overflow/default-sigsegv")
{
    CHECK(child_dies_with(fault_without_host_handler, NULL, SIGSEGV, NULL));
}

static void coroutine_fn do_nothing(void *opaque)
{
    (void)opaque;
}

static void say(const char *msg)
{
    if (write(STDERR_FILENO, msg, strlen(msg)) < 0) {
        _exit(3);
    }
}

/* Installs `fn` for SIGSEGV with `flags` (and `mask`), then runs a
 * coroutine so that the library's handler goes in on top of it. */
static void install_then_use_coroutines(void *fn, int flags, int masked)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = fn;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    if (masked) {
        sigaddset(&sa.sa_mask, masked);
    }
    sigaction(SIGSEGV, &sa, NULL);
    run_coroutine(do_nothing);
    /* Fault on a page of ours (not NULL): memcheck does not count a write
     * the kernel refuses there as an error, so Valgrind runs these too. */
    bad_pointer = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void siginfo_handler(int sig, siginfo_t *info, void *uctx)
{
    say(sig == SIGSEGV && info->si_addr == (void *)bad_pointer
        && info->si_code == SEGV_ACCERR
        && uctx ? "handler got the fault's siginfo\n" : "wrong arguments\n");
    abort();
}

static void fault_under_siginfo_handler(void *opaque)
{
    (void)opaque;
    install_then_use_coroutines(siginfo_handler, SA_SIGINFO, 0);
    run_coroutine(write_to_null);
}

/* Check that an SA_SIGINFO handler gets the fault's siginfo and context. */
TEST(chain_sa_siginfo, "/overflow/chain/sa-siginfo")
{
    CHECK(child_aborts_with(fault_under_siginfo_handler, NULL,
                            "handler got the fault's siginfo"));
}

static void one_shot_logger(int sig)
{
    (void)sig;
    say("crash logger ran\n");
}

static void fault_under_resethand_logger(void *opaque)
{
    (void)opaque;
    alarm(5);
    install_then_use_coroutines(one_shot_logger, SA_RESETHAND, 0);
    run_coroutine(write_to_null);
}

/* Check that an SA_RESETHAND logger that returns runs once, then the fault
 * kills the process with SIGSEGV (as without the library). */
TEST(chain_sa_resethand, "/overflow/chain/sa-resethand")
{
    CHECK(child_dies_with(fault_under_resethand_logger, NULL, SIGSEGV,
                          "crash logger ran"));
}

static void report_mask(int sig)
{
    sigset_t now;

    (void)sig;
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    say(sigismember(&now, SIGSEGV) ? "SIGSEGV blocked" : "SIGSEGV not blocked");
    say(sigismember(&now, SIGUSR1) ? ", SIGUSR1 blocked\n" : ", SIGUSR1 not blocked\n");
    abort();
}

static void fault_under_nodefer_handler(void *opaque)
{
    (void)opaque;
    install_then_use_coroutines(report_mask, SA_NODEFER, 0);
    run_coroutine(write_to_null);
}

/* Check that an SA_NODEFER handler runs with SIGSEGV unblocked. */
TEST(chain_sa_nodefer, "/overflow/chain/sa-nodefer")
{
    CHECK(child_aborts_with(fault_under_nodefer_handler, NULL,
                            "SIGSEGV not blocked, SIGUSR1 not blocked"));
}

static void fault_under_masking_handler(void *opaque)
{
    (void)opaque;
    install_then_use_coroutines(report_mask, 0, SIGUSR1);
    run_coroutine(write_to_null);
}

/* Check that a handler runs with its own sa_mask (and SIGSEGV) blocked. */
TEST(chain_sa_mask, "/overflow/chain/sa-mask")
{
    CHECK(child_aborts_with(fault_under_masking_handler, NULL,
                            "SIGSEGV blocked, SIGUSR1 blocked"));
}

static void raise_under_sig_ign(void *opaque)
{
    (void)opaque;
    install_then_use_coroutines(SIG_IGN, 0, 0);
    raise(SIGSEGV);
    say("sent SIGSEGV ignored\n");
    abort();
}

/* Check that a SIGSEGV sent to a program that ignores it stays ignored. */
TEST(chain_sig_ign_sent, "/overflow/chain/sig-ign-sent")
{
    CHECK(child_aborts_with(raise_under_sig_ign, NULL, "sent SIGSEGV ignored"));
}

static void fault_under_sig_ign(void *opaque)
{
    (void)opaque;
    install_then_use_coroutines(SIG_IGN, 0, 0);
    run_coroutine(write_to_null);
}

/* Check that a real fault in a program that ignores SIGSEGV still kills it
 * with SIGSEGV (the kernel's rule), silently. */
TEST(chain_sig_ign_fault, "/overflow/chain/sig-ign-fault")
{
    CHECK(child_dies_with(fault_under_sig_ign, NULL, SIGSEGV, NULL));
}

static void raise_under_sig_dfl(void *opaque)
{
    (void)opaque;
    install_then_use_coroutines(SIG_DFL, 0, 0);
    raise(SIGSEGV);
    say("survived a sent SIGSEGV\n");
    abort();
}

/* Check that a SIGSEGV sent to a program with the default action kills it. */
TEST(chain_sig_dfl_sent, "/overflow/chain/sig-dfl-sent")
{
    CHECK(child_dies_with(raise_under_sig_dfl, NULL, SIGSEGV, NULL));
}

/* Set by loader-lock-holder.so's constructor, which then never returns. */
volatile int loader_lock_held;

static void *dlopen_loader_lock_holder(void *opaque)
{
    (void)opaque;
    dlopen(LOADER_LOCK_HOLDER_SO, RTLD_NOW);
    return NULL;
}

static void overflow_while_loader_locked(void *opaque)
{
    pthread_t t;

    (void)opaque;
    alarm(5);
    /* First use first: a thread's first use registers thread-exit hooks,
     * which (in glibc) takes the loader's lock. */
    run_coroutine(do_nothing);
    pthread_create(&t, NULL, dlopen_loader_lock_holder, NULL);
    while (!loader_lock_held) {
        usleep(1000);
    }
    run_coroutine(overflow_recurse);
}

/* Check that the overflow report needs no lock of the dynamic loader's (it
 * is async-signal-safe): another thread stuck inside dlopen holds it. */
TEST(overflow_report_without_loader_lock, "/overflow/report-while-loader-locked")
{
    CHECK(child_aborts_with(overflow_while_loader_locked, NULL,
                            OVERFLOW_MESSAGE("overflow_recurse")));
}
