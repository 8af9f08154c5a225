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
#include <stdint.h>
#include <stdlib.h>
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

/*
 * The shapes of overflow every stack layout must report, before any other
 * coroutine runs. Each runs on one of three layouts, chosen in the child
 * before its first coroutine: a stack of its own mapping (the default
 * while the budget lasts), a slab slot guarded by userfaultfd
 * (QEMUCORO_GUARDED_STACKS=0), or a slab slot checked by software
 * (QEMUCORO_UFFD=0 too). A coroutine on the slot below the overflowing
 * one is suspended throughout; it would be the victim.
 */
enum { LAYOUT_MAPPED, LAYOUT_UFFD, LAYOUT_CHECKED };

#define CHECKED_SUFFIX " (a software-checked stack: caught at switch-out)"

typedef struct {
    int layout;
    void (*shape)(char *bottom);
} Overflow;

/* The current coroutine's lowest usable address: its stack's top is the
 * first page boundary above any of its frames. */
static char *stack_bottom(char *frame)
{
    uintptr_t page = sysconf(_SC_PAGESIZE);
    uintptr_t top = ((uintptr_t)frame + page - 1) & ~(page - 1);

    return (char *)(top - qemucoro_stack_size(qemu_coroutine_self()));
}

static int layout_in_use(int layout)
{
    QemucoroStackStats s;

    qemucoro_get_stack_stats(&s);
    switch (layout) {
    case LAYOUT_MAPPED:
        return s.guarded_mapped > 0 && !s.guarded_uffd && !s.checked;
    case LAYOUT_UFFD:
        return s.guarded_uffd > 0 && !s.guarded_mapped && !s.checked;
    default:
        return s.checked > 0 && !s.guarded_mapped && !s.guarded_uffd;
    }
}

/* 256-byte frames writing one byte each, down to `until`, then back. */
static int __attribute__((noinline)) sparse(int depth, char *until)
{
    volatile char pad[256];

    pad[0] = depth;
    if ((char *)pad > until) {
        return sparse(depth + 1, until) + pad[0];
    }
    return pad[0];
}

static void shape_sparse(char *bottom)
{
    sparse(1, bottom - 3 * 1024);
}

static int __attribute__((noinline)) array_reaching_below(void)
{
    volatile char array[3584];

    array[0] = 1;           /* its lowest byte, about 3 KiB below */
    return array[0];
}

/* Sparse frames down to 512 bytes above the bottom, then an array. */
static int __attribute__((noinline)) descend_then_array(int depth, char *until)
{
    volatile char pad[256];

    pad[0] = depth;
    if ((char *)pad > until) {
        return descend_then_array(depth + 1, until) + pad[0];
    }
    return array_reaching_below();
}

static void shape_array(char *bottom)
{
    descend_then_array(1, bottom + 512);
}

/* 8 KiB frames, each written first at its lowest address. */
static int __attribute__((noinline)) big_frames(int depth)
{
    volatile char frame[8192];

    frame[0] = depth;
    if (!keep_going) {
        return 0;
    }
    return big_frames(depth + 1) + frame[0];
}

static void shape_big_frames(char *bottom)
{
    (void)bottom;
    big_frames(1);
}

static void shape_unbounded(char *bottom)
{
    (void)bottom;
    recurse(0);
}

static void coroutine_fn overflow_shape(void *opaque)
{
    Overflow *o = opaque;
    char here;

    if (!layout_in_use(o->layout)) {
        say("not the layout asked for\n");
        abort();
    }
    o->shape(stack_bottom(&here));
    qemu_coroutine_yield();
}

/* Parks with a known value in its frame, then checks it when resumed. */
static void coroutine_fn neighbour(void *opaque)
{
    volatile long mine = 0x5a5a5a5a;

    (void)opaque;
    qemu_coroutine_yield();
    say(mine == 0x5a5a5a5a ? "neighbour intact, overflow missed\n"
                           : "neighbour corrupted\n");
    abort();
}

static void run_overflow(void *opaque)
{
    Overflow *o = opaque;
    Coroutine *below;

    if (o->layout != LAYOUT_MAPPED) {
        setenv("QEMUCORO_GUARDED_STACKS", "0", 1);
    }
    if (o->layout == LAYOUT_CHECKED) {
        setenv("QEMUCORO_UFFD", "0", 1);
    }
    below = qemu_coroutine_create(neighbour, NULL);
    qemu_coroutine_enter(below);
    qemu_coroutine_enter(qemu_coroutine_create(overflow_shape, o));
    qemu_coroutine_enter(below);
}

#define SHAPE_MESSAGE OVERFLOW_MESSAGE("overflow_shape")

#define OVERFLOW_TEST(fn, path, layout_, shape_, message)         \
    TEST(fn, path)                                                \
    {                                                             \
        static Overflow o = { layout_, shape_ };                  \
        CHECK(child_aborts_with(run_overflow, &o, message));      \
    }

/* Check that sparse recursion 3 KiB past the bottom, then a return and a
 * yield, is reported (at the write where the band is guarded). */
OVERFLOW_TEST(sparse_mapped, "/overflow/sparse/mapped", LAYOUT_MAPPED,
              shape_sparse, SHAPE_MESSAGE)
OVERFLOW_TEST(sparse_uffd, "/overflow/sparse/uffd", LAYOUT_UFFD,
              shape_sparse, SHAPE_MESSAGE)
OVERFLOW_TEST(sparse_checked, "/overflow/sparse/checked", LAYOUT_CHECKED,
              shape_sparse, SHAPE_MESSAGE CHECKED_SUFFIX)

/* Check that an array reaching 3 KiB below the bottom is reported. */
OVERFLOW_TEST(array_mapped, "/overflow/array-below/mapped", LAYOUT_MAPPED,
              shape_array, SHAPE_MESSAGE)
OVERFLOW_TEST(array_uffd, "/overflow/array-below/uffd", LAYOUT_UFFD,
              shape_array, SHAPE_MESSAGE)
OVERFLOW_TEST(array_checked, "/overflow/array-below/checked", LAYOUT_CHECKED,
              shape_array, SHAPE_MESSAGE CHECKED_SUFFIX)

/* Check that 8 KiB frames, which step over a one-page guard, are reported. */
OVERFLOW_TEST(big_frames_mapped, "/overflow/8k-frames/mapped", LAYOUT_MAPPED,
              shape_big_frames, SHAPE_MESSAGE)
OVERFLOW_TEST(big_frames_uffd, "/overflow/8k-frames/uffd", LAYOUT_UFFD,
              shape_big_frames, SHAPE_MESSAGE)
OVERFLOW_TEST(big_frames_checked, "/overflow/8k-frames/checked", LAYOUT_CHECKED,
              shape_big_frames, SHAPE_MESSAGE)

/* Check that unbounded recursion is reported where it faults (on a checked
 * slab: at the slab's bottom page, known by the stack pointer). */
OVERFLOW_TEST(unbounded_mapped, "/overflow/unbounded/mapped", LAYOUT_MAPPED,
              shape_unbounded, SHAPE_MESSAGE)
OVERFLOW_TEST(unbounded_uffd, "/overflow/unbounded/uffd", LAYOUT_UFFD,
              shape_unbounded, SHAPE_MESSAGE)
OVERFLOW_TEST(unbounded_checked, "/overflow/unbounded/checked", LAYOUT_CHECKED,
              shape_unbounded, SHAPE_MESSAGE)

static void run_unprivileged(void *opaque)
{
    if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) {
        say("could not drop privileges\n");
        abort();
    }
    run_overflow(opaque);
}

/* Check that an unprivileged process gets userfaultfd guards (user-mode
 * faults are all a guard needs, allowed where unprivileged userfaultfd is
 * otherwise off). */
TEST(uffd_unprivileged, "/overflow/sparse/uffd-unprivileged")
{
    static Overflow o = { LAYOUT_UFFD, shape_sparse };

    CHECK(child_aborts_with(run_unprivileged, &o, SHAPE_MESSAGE));
}

static void fork_then_overflow(void *opaque)
{
    int status;
    pid_t pid;

    /* The slab, and its guards, made in this process... */
    setenv("QEMUCORO_GUARDED_STACKS", "0", 1);
    run_coroutine(do_nothing);
    pid = fork();
    if (pid == 0) {
        /* ...and its pooled stack reused in the child. */
        run_overflow(opaque);
        _exit(0);
    }
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
        raise(WTERMSIG(status));
    }
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

/* Check that a forked child keeps userfaultfd guards on the slabs it
 * inherited (the kernel drops the parent's registration in a child). */
TEST(uffd_after_fork, "/overflow/sparse/uffd-after-fork")
{
    static Overflow o = { LAYOUT_UFFD, shape_sparse };

    CHECK(child_aborts_with(fork_then_overflow, &o, SHAPE_MESSAGE));
}

static void coroutine_fn read_truncated_file(void *opaque)
{
    int fd = memfd_create("empty", 0);
    volatile char *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);

    (void)opaque;
    (void)p[0];             /* past the end of the file: SIGBUS */
}

static void bus_host_handler(int sig)
{
    (void)sig;
    say("host handler saw SIGBUS\n");
    abort();
}

static void sigbus_with_host_handler(void *opaque)
{
    (void)opaque;
    signal(SIGBUS, bus_host_handler);
    run_coroutine(read_truncated_file);
}

/* Check that a SIGBUS that is not a guard band hit reaches the handler the
 * host program installed before using coroutines. */
TEST(other_sigbus_reaches_host_handler, "/overflow/sigbus-chains-to-host-handler")
{
    CHECK(child_aborts_with(sigbus_with_host_handler, NULL,
                            "host handler saw SIGBUS"));
}
