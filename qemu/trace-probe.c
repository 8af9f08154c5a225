/*
 * qemucoro trace probe: enables util/trace-events' coroutine and CoMutex
 * events with QEMU's own trace control, then runs one contended CoMutex
 * hand-over between two coroutines. stderr gets QEMU's trace lines;
 * stdout names the pointers in them, so that check-qemu.sh can compare the
 * sequence from full mode with the one QEMU's own coroutine files print
 * (the probe is linked against each).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/coroutine.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "trace/control.h"

static CoMutex mutex;
static int arg_a, arg_b;

/* Takes the free mutex, yields holding it, then releases it. */
static void coroutine_fn holder(void *opaque)
{
    qemu_co_mutex_lock(&mutex);
    qemu_coroutine_yield();
    qemu_co_mutex_unlock(&mutex);
}

/* Finds the mutex held, sleeps until the holder hands it over. */
static void coroutine_fn waiter(void *opaque)
{
    qemu_co_mutex_lock(&mutex);
    qemu_co_mutex_unlock(&mutex);
}

int main(void)
{
    Coroutine *a, *b;

    qemu_co_mutex_init(&mutex);
    a = qemu_coroutine_create(holder, &arg_a);
    b = qemu_coroutine_create(waiter, &arg_b);
    printf("%p leader\n%p a\n%p b\n%p mutex\n%p arg_a\n%p arg_b\n",
           (void *)qemu_coroutine_self(), (void *)a, (void *)b,
           (void *)&mutex, (void *)&arg_a, (void *)&arg_b);
    fflush(stdout);

    module_call_init(MODULE_INIT_TRACE);    /* registers the events */
    if (!trace_init_backends()) {
        return 1;
    }
    qemu_set_log(LOG_TRACE, &error_fatal);
    trace_enable_events("qemu_aio_coroutine_enter");
    trace_enable_events("qemu_coroutine_*");
    trace_enable_events("qemu_co_mutex_*");

    qemu_coroutine_enter(a);    /* a holds the mutex and yields */
    qemu_coroutine_enter(b);    /* b queues on it and yields */
    qemu_coroutine_enter(a);    /* a hands over and ends; b runs, ends */
    return 0;
}
