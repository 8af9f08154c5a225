/*
 * The introspection extension (not in QEMU): live and pooled counts, stack
 * size and stack high-water mark.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/coroutine.h"
#include "harness.h"

static void coroutine_fn yield_once(void *opaque)
{
    (void)opaque;
    qemu_coroutine_yield();
}

/* Check that live counts exactly the created, unfinished coroutines and
 * that finished ones are counted as pooled. */
TEST_OURS(counts_live_and_pooled, "/stats/live-and-pooled", "qemucoro_ extension")
{
    QemucoroStats before, during, after;
    Coroutine *co[3];

    qemucoro_get_stats(&before);
    for (int i = 0; i < 3; i++) {
        co[i] = qemu_coroutine_create(yield_once, NULL);
        qemu_coroutine_enter(co[i]);
    }
    qemucoro_get_stats(&during);
    for (int i = 0; i < 3; i++) {
        qemu_coroutine_enter(co[i]);
    }
    qemucoro_get_stats(&after);
    CHECK(during.live == before.live + 3);
    CHECK(after.live == before.live);
    CHECK(after.pooled >= 3);
    CHECK(after.live + after.pooled == during.live + during.pooled);
}

/* Check that a coroutine reports QEMU's 1 MiB stack and a leader none. */
TEST_OURS(stack_size, "/stats/stack-size", "qemucoro_ extension")
{
    Coroutine *co = qemu_coroutine_create(yield_once, NULL);

    CHECK(qemucoro_stack_size(co) >= 1 << 20);
    CHECK(qemucoro_stack_size(qemu_coroutine_self()) == 0);
    qemu_coroutine_enter(co);
    qemu_coroutine_enter(co);
}

#define DEEP (256 * 1024)

static void coroutine_fn use_deep_stack(void *opaque)
{
    volatile char buf[DEEP];

    (void)opaque;
    for (size_t i = 0; i < sizeof(buf); i += 64) {
        buf[i] = 1;
    }
    qemu_coroutine_yield();
}

/* Check that the high-water mark covers what a coroutine used, and stays
 * within the stack. */
TEST_OURS(high_water_covers_use, "/stats/high-water", "qemucoro_ extension")
{
    Coroutine *co = qemu_coroutine_create(use_deep_stack, NULL);
    size_t mark;

    qemu_coroutine_enter(co);
    mark = qemucoro_stack_high_water(co);
    CHECK(mark >= DEEP);
    CHECK(mark <= qemucoro_stack_size(co));
    CHECK(qemucoro_stack_high_water(qemu_coroutine_self()) == 0);
    qemu_coroutine_enter(co);
}

static void high_water_of_null(void *opaque)
{
    (void)opaque;
    qemucoro_stack_high_water(NULL);
}

/* Check that a NULL coroutine is rejected by name. */
TEST_OURS(high_water_null_aborts, "/stats/high-water-null", "qemucoro_ extension")
{
    CHECK(child_aborts_with(high_water_of_null, NULL,
                            "qemucoro_stack_high_water: co must not be NULL"));
}
