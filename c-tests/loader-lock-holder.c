/*
 * A shared object whose constructor never returns: a thread that dlopens
 * it holds the dynamic loader's lock for good, which overflow.c uses to
 * show that the overflow report does not need that lock. It announces
 * itself through `loader_lock_held`, defined by the program (-rdynamic).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <unistd.h>

extern volatile int loader_lock_held;

static void __attribute__((constructor)) hold_loader_lock(void)
{
    loader_lock_held = 1;
    for (;;) {
        pause();
    }
}
