/*
 * Built against an installed qemucoro through pkg-config (make
 * check-install): touches every core function once and exits 0 only if each
 * behaved.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <stdio.h>
#include "qemu/coroutine.h"

static void coroutine_fn worker(void *opaque)
{
    int *state = opaque;
    *state = qemu_in_coroutine() && qemu_coroutine_entered(qemu_coroutine_self());
    qemu_coroutine_yield();
    *state = 2;
}

/* The introspection extension (not in QEMU). */
static int usage_looks_right(Coroutine *co)
{
    QemucoroStats stats;
    QemucoroStackStats stacks;

    qemucoro_get_stats(&stats);
    qemucoro_get_stack_stats(&stacks);
    return stats.live >= 1 && qemucoro_stack_size(co) >= 1 << 20 &&
           stacks.guarded_mapped + stacks.guarded_uffd + stacks.checked >= 1 &&
           qemucoro_stack_high_water(co) > 0;
}

int main(void)
{
    int state = 0;
    Coroutine *co;

    qemu_coroutine_inc_pool_size(8);
    co = qemu_coroutine_create(worker, &state);
    qemu_coroutine_enter(co);
    if (state != 1 || qemu_coroutine_entered(co) || qemu_in_coroutine()) {
        return 1;
    }
    if (!usage_looks_right(co)) {
        return 1;
    }
    qemu_coroutine_enter_if_inactive(co);
    qemu_coroutine_dec_pool_size(8);
    if (state != 2 || qemu_coroutine_self() == NULL) {
        return 1;
    }
    printf("installed library works\n");
    return 0;
}
