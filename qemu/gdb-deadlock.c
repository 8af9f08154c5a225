/*
 * A CoMutex deadlock between two coroutines of one thread, for
 * check-qemu-gdb.sh's `qemu coroutines` / `qemu deadlocks`: deadlock_a holds
 * mutex_1 and waits for mutex_2, deadlock_b holds mutex_2 and waits for
 * mutex_1. Once both wait, nothing can re-enter either, so main aborts
 * and gdb reads the cycle off their stacks (live, then from the core).
 *
 * Built in the check-qemu tree with QEMU's headers and libqemuutil.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */

#include "qemu/osdep.h"
#include "qemu/coroutine.h"

static CoMutex mutex_1;
static CoMutex mutex_2;

/* Takes mutex_1, lets main run deadlock_b, then wants mutex_2. */
static void coroutine_fn deadlock_a(void *opaque)
{
    qemu_co_mutex_lock(&mutex_1);
    qemu_coroutine_yield();
    qemu_co_mutex_lock(&mutex_2);
    g_assert_not_reached();
}

/* Takes mutex_2, then wants mutex_1, which deadlock_a holds. */
static void coroutine_fn deadlock_b(void *opaque)
{
    qemu_co_mutex_lock(&mutex_2);
    qemu_co_mutex_lock(&mutex_1);
    g_assert_not_reached();
}

int main(void)
{
    Coroutine *a, *b;

    qemu_co_mutex_init(&mutex_1);
    qemu_co_mutex_init(&mutex_2);
    a = qemu_coroutine_create(deadlock_a, NULL);
    b = qemu_coroutine_create(deadlock_b, NULL);
    qemu_coroutine_enter(a);    /* a holds mutex_1 and yields */
    qemu_coroutine_enter(b);    /* b holds mutex_2, waits for mutex_1 */
    qemu_coroutine_enter(a);    /* a waits for mutex_2 */
    /* Both are suspended in qemu_co_mutex_lock: the hang gdb must explain. */
    fprintf(stderr, "gdb-deadlock: coroutines %p and %p deadlocked on %p and %p\n",
            (void *)a, (void *)b, (void *)&mutex_1, (void *)&mutex_2);
    abort();
}
