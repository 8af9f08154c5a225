/*
 * qemucoro out-of-memory probe: inside a program linked like QEMU's tests
 * against full mode's archive, a coroutine that cannot get its memory must
 * end the process with one clear line and SIGABRT, not a Rust backtrace or
 * a crash. The probe warms up (one coroutine made, run and pooled), then
 * takes every byte the address-space limit leaves; the pooled coroutine is
 * still handed out (and parks, alive), the next one cannot be made. check-qemu.sh checks the
 * signal and the line.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

/* From QEMU's include/qemu/coroutine.h, without its build's headers. */
typedef struct Coroutine Coroutine;
Coroutine *qemu_coroutine_create(void (*entry)(void *), void *opaque);
void qemu_coroutine_enter(Coroutine *co);
void qemu_coroutine_yield(void);

static void nothing(void *opaque)
{
}

static void park(void *opaque)
{
    qemu_coroutine_yield();
}

/* The address space in use now, from /proc/self/statm (pages). */
static size_t vm_bytes(void)
{
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (!f || fscanf(f, "%lu", &pages) != 1) {
        abort();
    }
    fclose(f);
    return pages * (size_t)sysconf(_SC_PAGESIZE);
}

/* malloc until nothing of any size down to 16 bytes is left. */
static void exhaust(void)
{
    for (size_t size = 1 << 20; size >= 16; size /= 2) {
        while (malloc(size)) {
        }
    }
}

int main(void)
{
    struct rlimit as;

    qemu_coroutine_enter(qemu_coroutine_create(nothing, NULL));
    as.rlim_cur = as.rlim_max = vm_bytes() + (16 << 20);
    if (setrlimit(RLIMIT_AS, &as) != 0) {
        perror("setrlimit");
        return 1;
    }
    exhaust();
    qemu_coroutine_enter(qemu_coroutine_create(park, NULL));  /* pooled */
    fprintf(stderr, "oom-probe: the pooled coroutine ran\n");
    qemu_coroutine_enter(qemu_coroutine_create(park, NULL));  /* aborts */
    fprintf(stderr, "oom-probe: a coroutine was made with no memory left\n");
    return 1;
}
