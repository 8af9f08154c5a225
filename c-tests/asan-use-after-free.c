/*
 * A deliberate use-after-free inside a coroutine: `make check-asan` runs
 * this and requires AddressSanitizer to report it (annotated stack switches
 * must not blind ASan to real bugs).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/coroutine.h"

#include <stdlib.h>

static int *volatile freed_in_coroutine;

static void coroutine_fn use_after_free(void *opaque)
{
    (void)opaque;
    freed_in_coroutine = malloc(sizeof(int));
    qemu_coroutine_yield();
    free(freed_in_coroutine);
    qemu_coroutine_yield();
    *freed_in_coroutine = 1;
}

int main(void)
{
    Coroutine *co = qemu_coroutine_create(use_after_free, NULL);

    qemu_coroutine_enter(co);
    qemu_coroutine_enter(co);
    qemu_coroutine_enter(co);
    return 0;
}
