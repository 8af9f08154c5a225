/*
 * Unwinding out of a coroutine with libgcc's unwinder (the unwind
 * information gdb, perf and C++ exceptions read too): from a coroutine's
 * frames through its stack's first frame and the qemu_coroutine_enter stub
 * into whoever entered it, across two nested coroutines.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/coroutine.h"
#include "harness.h"

#include <stdint.h>
#include <unwind.h>

enum { OUTER_ENTRY, ENTER, ENTERER, WANTED };

struct walk {
    void *want[WANTED];
    bool seen[WANTED];
    int frames;
};

static struct walk walk;

/* Marks each wanted function some frame of the walk is in. */
static _Unwind_Reason_Code visit(struct _Unwind_Context *ctx, void *opaque)
{
    struct walk *w = opaque;
    int before = 0;
    uintptr_t ip = _Unwind_GetIPInfo(ctx, &before);
    /* A return address may be the first byte after its call's function. */
    void *fn = _Unwind_FindEnclosingFunction((void *)(ip - !before));

    for (int i = 0; i < WANTED; i++) {
        w->seen[i] |= fn == w->want[i];
    }
    return ++w->frames < 64 ? _URC_NO_REASON : _URC_END_OF_STACK;
}

static void coroutine_fn inner_entry(void *opaque)
{
    (void)opaque;
    _Unwind_Backtrace(visit, &walk);
}

static void coroutine_fn outer_entry(void *opaque)
{
    (void)opaque;
    qemu_coroutine_enter(qemu_coroutine_create(inner_entry, NULL));
    __asm__ volatile("" ::: "memory");
}

static void __attribute__((noinline)) enterer(void)
{
    qemu_coroutine_enter(qemu_coroutine_create(outer_entry, NULL));
    __asm__ volatile("" ::: "memory");
}

TEST_OURS(unwind_walks_into_enterer, "/unwind/walks-into-enterer",
          "with QEMU's ucontext coroutines the walk ends on the coroutine's stack")
{
    walk = (struct walk){ .want = { [OUTER_ENTRY] = (void *)outer_entry,
                                    [ENTER] = (void *)qemu_coroutine_enter,
                                    [ENTERER] = (void *)enterer } };
    enterer();
    CHECK(walk.seen[OUTER_ENTRY]);
    CHECK(walk.seen[ENTER]);
    CHECK(walk.seen[ENTERER]);
}
