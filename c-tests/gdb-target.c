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
 * With an argument it aborts in inner_co instead, for a core dump.
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/coroutine.h"

#include <stdlib.h>

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

int main(int argc, char **argv)
{
    Coroutine *done1, *done2;

    (void)argv;
    crash = argc > 1;
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
