/*
 * The 2014 API of "Coroutines in QEMU: The basics", opted into with
 * QEMUCORO_LEGACY_API: create(entry), enter(co, opaque).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef VS_QEMU
#define QEMUCORO_LEGACY_API
#endif
#include "qemu/coroutine.h"
#include "harness.h"

static void coroutine_fn add_twice(void *opaque)
{
    int *sum = opaque;
    *sum += 1;
    qemu_coroutine_yield();
    *sum += 10;
}

/* Check that the opaque of the first enter reaches the entry function and
 * later enters resume the same coroutine. */
TEST_OURS(legacy_opaque_on_first_enter, "/legacy/opaque-on-first-enter",
          "the 2014 signatures are gone from QEMU 10")
{
#ifndef VS_QEMU
    int sum = 0, other = 0;
    Coroutine *co = qemu_coroutine_create(add_twice);

    qemu_coroutine_enter(co, &sum);
    CHECK(sum == 1);
    qemu_coroutine_enter(co, &other);
    CHECK(sum == 11);
    CHECK(other == 0);
#endif
}
