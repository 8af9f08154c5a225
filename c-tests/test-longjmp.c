/*
 * Non-local jumps inside a coroutine. Beyond proving they work, these give
 * the sanitizer builds something to check: before a longjmp, ASan
 * unpoisons the stack between the jump and the top of "the current stack",
 * which it only knows for a coroutine because every switch is annotated.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/coroutine.h"
#include "harness.h"

#include <setjmp.h>

static jmp_buf escape;

static volatile int never;

/* Leaves `depth` frames on the coroutine's stack, then jumps out of all. */
static int __attribute__((noinline)) jump_back(int depth)
{
    volatile char pad[256];

    pad[0] = depth;
    if (never) {
        return 0;
    }
    if (depth == 0) {
        longjmp(escape, 1);
    }
    return jump_back(depth - 1) + pad[0];
}

static void coroutine_fn jump_within_coroutine(void *opaque)
{
    int *jumps = opaque;

    if (setjmp(escape) == 0) {
        jump_back(16);
    }
    (*jumps)++;
    qemu_coroutine_yield();
    if (setjmp(escape) == 0) {
        jump_back(16);
    }
    (*jumps)++;
}

/* Check that longjmp within a coroutine's own stack, before and after a
 * yield, lands and the coroutine runs to its end. */
TEST(longjmp_within_coroutine, "/basic/longjmp-within-coroutine")
{
    int jumps = 0;
    Coroutine *co = qemu_coroutine_create(jump_within_coroutine, &jumps);

    qemu_coroutine_enter(co);
    CHECK(jumps == 1);
    qemu_coroutine_enter(co);
    CHECK(jumps == 2);
}
