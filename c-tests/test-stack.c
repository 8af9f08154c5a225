/*
 * Stacks: stacks of their own mapping up to a budget, slab stacks after it
 * (guarded by userfaultfd, or checked at switch-out where that is refused),
 * and what happens when a coroutine overflows one or runs out of room.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/coroutine.h"
#include "harness.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Uses about 64 KiB of stack per level, writing all of it. */
static int __attribute__((noinline)) deep(int n)
{
    volatile char frame[64 * 1024];
    memset((char *)frame, n, sizeof(frame));
    return n ? deep(n - 1) + frame[n] : frame[0];
}

static void coroutine_fn recurse(void *opaque)
{
    int *levels = opaque;
    *levels = deep(*levels);
    qemu_coroutine_yield();
}

static void coroutine_fn use_half_the_stack(void *opaque)
{
    recurse(opaque);
}

/*
 * Check that a coroutine on a slab stack that recurses past its 1 MiB is
 * caught (at the write, or where userfaultfd is refused when it switches
 * out), naming the overflow. The neighbour below it in the slab is what it
 * would overrun.
 */
CHILD(overflow_slab_stack, "overflow-slab")
{
    int levels = 20;          /* 20 * 64 KiB > 1 MiB */
    int none = 0;
    Coroutine *neighbour = qemu_coroutine_create(recurse, &none);

    qemu_coroutine_enter(neighbour);
    qemu_coroutine_enter(qemu_coroutine_create(recurse, &levels));
}

TEST_OURS(slab_stack_overflow_caught, "/stack/slab-overflow-aborts",
          "slab stacks and their guards are ours")
{
    CHECK(exec_child_aborts_with("overflow-slab", "QEMUCORO_GUARDED_STACKS=0",
          "Co-routine stack overflow: entry function *"));
}

/* Check that slab stacks serve deep but legal use (half of 1 MiB). */
CHILD(half_stack_on_slab, "half-stack-slab")
{
    int levels = 7;           /* 7 * 64 KiB < 1 MiB */
    Coroutine *co = qemu_coroutine_create(use_half_the_stack, &levels);
    qemu_coroutine_enter(co);
    qemu_coroutine_enter(co);
    exit(0);                  /* reached only if no overflow was reported */
}

TEST(slab_stack_legal_use, "/stack/slab-legal-depth")
{
    CHECK(exec_child_succeeds("half-stack-slab", "QEMUCORO_GUARDED_STACKS=0"));
}

#define HUNDRED_K 100000

static void coroutine_fn yield_then_count(void *opaque)
{
    int *finished = opaque;
    qemu_coroutine_yield();
    (*finished)++;
}

/*
 * Check that 100,000 coroutines can be suspended at once within the
 * kernel's default limit of 65530 mappings (guarded stacks would need
 * 200,000), then all finish.
 */
TEST_OURS(hundred_thousand_live, "/stack/100000-live",
          "QEMU's guarded stacks stop near 30,000 (max_map_count)")
{
    Coroutine **cos = calloc(HUNDRED_K, sizeof(*cos));
    int finished = 0;

    for (int i = 0; i < HUNDRED_K; i++) {
        cos[i] = qemu_coroutine_create(yield_then_count, &finished);
        qemu_coroutine_enter(cos[i]);
    }
    for (int i = 0; i < HUNDRED_K; i++) {
        qemu_coroutine_enter(cos[i]);
    }
    CHECK(finished == HUNDRED_K);
    free(cos);
}

static void coroutine_fn park(void *opaque)
{
    (void)opaque;
    qemu_coroutine_yield();
}

/*
 * Check that running out of address space for stacks aborts with the size
 * and errno instead of handing back a coroutine without a stack.
 */
CHILD(stack_map_fails, "stack-map-fails")
{
    struct rlimit as = { 256 << 20, 256 << 20 };

    setrlimit(RLIMIT_AS, &as);
    for (int i = 0; i < 1000; i++) {   /* 1000 MiB of stacks > 256 MiB */
        qemu_coroutine_enter(qemu_coroutine_create(park, NULL));
    }
    exit(0);
}

TEST(stack_map_failure_aborts, "/stack/map-failure-aborts")
{
    CHECK(exec_child_aborts_with("stack-map-fails", NULL,
          ABORT_MSG("failed to map a coroutine stack of 1048576 bytes: "
                    "Cannot allocate memory (os error 12)",
                    "failed to allocate memory for stack: Cannot allocate memory")));
}

static long max_map_count(void)
{
    long n = 65530;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &n) != 1) {
            n = 65530;
        }
        fclose(f);
    }
    return n;
}

/*
 * Check that a program that already holds nearly all the mappings the
 * kernel allows still gets its coroutines: the guarded-stack budget counts
 * the process's own mappings, so stacks come from slabs instead of the
 * kernel refusing a guarded one (it aborted at about 12,700 with 40,000).
 * The child leaves 7,500 mappings free, fewer than 4,096 guarded stacks
 * need, and runs 10,000 coroutines at once.
 */
CHILD(busy_mappings, "busy-mappings")
{
    long page = sysconf(_SC_PAGESIZE), n = (max_map_count() - 7500) / 2;
    /* every other page PROT_NONE: two mappings each, none can merge */
    char *p = mmap(NULL, 2 * n * page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
        exit(2);
    }
    for (long i = 0; i < n; i++) {
        if (mprotect(p + 2 * i * page, page, PROT_NONE) != 0) {
            exit(3);
        }
    }
    Coroutine **cos = calloc(10000, sizeof(*cos));
    for (int i = 0; i < 10000; i++) {
        cos[i] = qemu_coroutine_create(park, NULL);
        qemu_coroutine_enter(cos[i]);
    }
    for (int i = 0; i < 10000; i++) {
        qemu_coroutine_enter(cos[i]);
    }
    free(cos);
    exit(0);
}

TEST_OURS(busy_mappings_fall_back_to_slabs, "/stack/mapping-budget-counts-own-mappings",
          "QEMU's guarded stacks abort near the mapping limit; slab fallback is ours")
{
    CHECK(exec_child_succeeds("busy-mappings", NULL));
}

#define RLIMIT_ROOM_MIB 6000

/* The process's address space in bytes (VmSize), 0 if unknown. */
static size_t vm_size(void)
{
    char line[256];
    size_t kib = 0;
    FILE *f = fopen("/proc/self/status", "r");

    while (f && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "VmSize: %zu kB", &kib) == 1) {
            break;
        }
    }
    if (f) {
        fclose(f);
    }
    return kib << 10;
}

/*
 * Check that an address-space limit is filled with coroutines, not cut
 * short by one big slab the kernel refuses: a grandchild, limited to
 * RLIMIT_ROOM_MIB MiB more than it holds, creates suspended coroutines
 * until the library aborts; at least 98% of what fits at QEMU's cost per
 * stack (1 MiB and a guard page) must have been created.
 */
CHILD(fill_address_limit, "fill-address-limit")
{
    size_t *made = mmap(NULL, sizeof(*made), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    long page = sysconf(_SC_PAGESIZE);
    size_t fit = ((size_t)RLIMIT_ROOM_MIB << 20) / ((1 << 20) + page);
    int status;
    pid_t pid;

    if (made == MAP_FAILED) {
        exit(2);
    }
    pid = fork();
    if (pid == 0) {
        size_t room = (size_t)RLIMIT_ROOM_MIB << 20;
        struct rlimit as = { vm_size() + room, vm_size() + room };

        dup2(open("/dev/null", O_WRONLY), STDERR_FILENO); /* the abort's */
        setrlimit(RLIMIT_AS, &as);
        for (;;) {
            qemu_coroutine_enter(qemu_coroutine_create(park, NULL));
            (*made)++;
        }
    }
    waitpid(pid, &status, 0);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT) {
        fprintf(stderr, "grandchild ended with status %#x\n", status);
        exit(3);
    }
    if (*made * 100 < fit * 98) {
        fprintf(stderr, "%zu coroutines of %zu that fit\n", *made, fit);
        exit(4);
    }
    exit(0);
}

TEST(address_limit_filled_mapped, "/stack/rlimit-as/filled")
{
    CHECK(exec_child_succeeds("fill-address-limit", NULL));
}

TEST_OURS(address_limit_filled_slabs, "/stack/rlimit-as/filled-by-slabs",
          "slab stacks are ours")
{
    CHECK(exec_child_succeeds("fill-address-limit", "QEMUCORO_GUARDED_STACKS=0"));
}
