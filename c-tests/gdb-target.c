/*
 * The program `make check-gdb` debugs: it leaves coroutines in known
 * states and stops in gdb_stop_here(), where gdb/qemucoro.py must list them
 * and show the suspended one's frames.
 *
 *   parked_co   suspended in parked_inner() <- parked_outer() <- parked_entry()
 *   outer_co    entered, has entered inner_co
 *   inner_co    running: it calls gdb_stop_here()
 *   one pooled coroutine (two ran to their end; inner_co reused one)
 *
 * and, for `coroutine list` / `coroutine deadlocks`, hangs of each kind the
 * wait records name (see setup_hangs()): a CoMutex cycle and a CoRwlock
 * cycle across iothreads, a wait on a CoMutex held by thread code, a 10 s
 * sleep and an fd wait (none of them with GDB_TARGET_NO_THREADS set). With
 * GDB_TARGET_DUMP=FILE it writes its own qemucoro_dump() there first, for
 * gdb's output to be compared with.
 *
 * With an argument it aborts in inner_co instead, for a core dump.
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#define _GNU_SOURCE             /* memfd_create */
#include "block/aio.h"
#include "qemu/coroutine.h"
#include "iothread.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

Coroutine *parked_co, *outer_co, *inner_co;
static int crash;

void __attribute__((noinline)) gdb_stop_here(void)
{
    __asm__ volatile("" ::: "memory");
}

static void __attribute__((noinline)) parked_inner(int depth)
{
    volatile int keep = depth;

    qemu_coroutine_yield();
    (void)keep;
}

static void __attribute__((noinline)) parked_outer(int depth)
{
    parked_inner(depth + 1);
    __asm__ volatile("" ::: "memory");
}

static void coroutine_fn parked_entry(void *opaque)
{
    (void)opaque;
    parked_outer(1);
}

static void coroutine_fn inner_entry(void *opaque)
{
    (void)opaque;
    gdb_stop_here();
    if (crash) {
        abort();
    }
}

static void coroutine_fn outer_entry(void *opaque)
{
    (void)opaque;
    inner_co = qemu_coroutine_create(inner_entry, NULL);
    qemu_coroutine_enter(inner_co);
}

static void coroutine_fn finished_entry(void *opaque)
{
    (void)opaque;
}

/* Both sides of a two-lock cycle meet before taking their second lock. */
static atomic_int ready_mutex, ready_rwlock;

static void wait_for_both(atomic_int *ready)
{
    atomic_fetch_add(ready, 1);
    while (atomic_load(ready) < 2) {
        usleep(1000);
    }
}

static CoMutex m1, m2, m3, orphan_lock;
static CoRwlock rw;

static void coroutine_fn lock_m1_then_m2(void *opaque)
{
    (void)opaque;
    qemu_co_mutex_lock(&m1);
    wait_for_both(&ready_mutex);
    qemu_co_mutex_lock(&m2);
}

static void coroutine_fn lock_m2_then_m1(void *opaque)
{
    (void)opaque;
    qemu_co_mutex_lock(&m2);
    wait_for_both(&ready_mutex);
    qemu_co_mutex_lock(&m1);
}

static void coroutine_fn read_then_lock(void *opaque)
{
    (void)opaque;
    qemu_co_rwlock_rdlock(&rw);
    wait_for_both(&ready_rwlock);
    qemu_co_mutex_lock(&m3);
}

static void coroutine_fn lock_then_write(void *opaque)
{
    (void)opaque;
    qemu_co_mutex_lock(&m3);
    wait_for_both(&ready_rwlock);
    qemu_co_rwlock_wrlock(&rw);
}

static void coroutine_fn wait_for_orphan(void *opaque)
{
    (void)opaque;
    qemu_co_mutex_lock(&orphan_lock);
}

static void coroutine_fn sleep_10s(void *opaque)
{
    (void)opaque;
    qemu_co_sleep_ns(QEMU_CLOCK_REALTIME, 10 * 1000000000LL);
}

static void coroutine_fn wait_readable(void *opaque)
{
    yield_until_fd_readable(*(int *)opaque);
}

static void start_on_iothread(CoroutineEntry *entry)
{
    aio_co_schedule(iothread_get_aio_context(iothread_new()),
                    qemu_coroutine_create(entry, NULL));
}

/* Whether our own dump shows both cycles yet; writes it to `path` then. */
static int dump_shows_cycles(const char *path)
{
    static char text[65536];
    int fd = memfd_create("dump", 0);
    ssize_t n;

    qemucoro_dump(fd);
    n = pread(fd, text, sizeof(text) - 1, 0);
    close(fd);
    text[n > 0 ? n : 0] = '\0';
    if (!strstr(text, "qemucoro dump: 2 deadlock cycle(s)")) {
        return 0;
    }
    if (path) {
        FILE *f = fopen(path, "w");

        if (f) {
            fputs(text, f);
            fclose(f);
        }
    }
    return 1;
}

static void setup_hangs(void)
{
    static int fds[2];

    qemu_co_mutex_init(&m1);
    qemu_co_mutex_init(&m2);
    qemu_co_mutex_init(&m3);
    qemu_co_mutex_init(&orphan_lock);
    qemu_co_rwlock_init(&rw);
    start_on_iothread(lock_m1_then_m2);
    start_on_iothread(lock_m2_then_m1);
    start_on_iothread(read_then_lock);
    start_on_iothread(lock_then_write);

    qemu_co_mutex_lock(&orphan_lock);       /* held by thread code */
    qemu_coroutine_enter(qemu_coroutine_create(wait_for_orphan, NULL));
    qemu_coroutine_enter(qemu_coroutine_create(sleep_10s, NULL));
    if (pipe(fds) == 0) {
        qemu_coroutine_enter(qemu_coroutine_create(wait_readable, &fds[0]));
    }
    for (int i = 0; i < 1000 && !dump_shows_cycles(getenv("GDB_TARGET_DUMP"));
         i++) {
        usleep(10 * 1000);
    }
}

int main(int argc, char **argv)
{
    Coroutine *done1, *done2;

    (void)argv;
    crash = argc > 1;
    /* Threads hang under qemu-aarch64: make check-aarch64 leaves the
     * iothread hangs out and checks only coroutine list and bt there. */
    if (!getenv("GDB_TARGET_NO_THREADS")) {
        setup_hangs();
    }
    parked_co = qemu_coroutine_create(parked_entry, NULL);
    qemu_coroutine_enter(parked_co);
    outer_co = qemu_coroutine_create(outer_entry, NULL);
    done1 = qemu_coroutine_create(finished_entry, NULL);
    done2 = qemu_coroutine_create(finished_entry, NULL);
    qemu_coroutine_enter(done1);
    qemu_coroutine_enter(done2);
    qemu_coroutine_enter(outer_co);
    return 0;
}
