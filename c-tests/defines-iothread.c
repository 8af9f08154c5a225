/*
 * A program that defines QEMU's test helpers iothread_new,
 * iothread_get_aio_context and iothread_join itself, as one that compiles
 * QEMU's tests/unit/iothread.c does (this is that file's shape, without
 * its GSource). It must link with the archive (no "multiple definition")
 * and with the shared library, and its own definitions must be the ones
 * that run (`make check-iothread-names`).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qapi/error.h"
#include "block/aio.h"
#include "qemu/rcu.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct IOThread IOThread;

IOThread *iothread_new(void);
void iothread_join(IOThread *iothread);
AioContext *iothread_get_aio_context(IOThread *iothread);

struct IOThread {
    AioContext *ctx;
    QemuThread thread;
    QemuMutex init_done_lock;
    QemuCond init_done_cond;
    bool stopping;
};

/* How many of this file's definitions ran. */
static int ours_ran;

static void *iothread_run(void *opaque)
{
    IOThread *iothread = opaque;

    rcu_register_thread();
    qemu_mutex_lock(&iothread->init_done_lock);
    iothread->ctx = aio_context_new(&error_abort);
    qemu_set_current_aio_context(iothread->ctx);
    qemu_cond_signal(&iothread->init_done_cond);
    qemu_mutex_unlock(&iothread->init_done_lock);

    while (!qatomic_read(&iothread->stopping)) {
        aio_poll(iothread->ctx, true);
    }
    rcu_unregister_thread();
    return NULL;
}

static void iothread_stop_bh(void *opaque)
{
    IOThread *iothread = opaque;

    iothread->stopping = true;
}

void iothread_join(IOThread *iothread)
{
    ours_ran++;
    aio_bh_schedule_oneshot(iothread->ctx, iothread_stop_bh, iothread);
    qemu_thread_join(&iothread->thread);
    qemu_cond_destroy(&iothread->init_done_cond);
    qemu_mutex_destroy(&iothread->init_done_lock);
    aio_context_unref(iothread->ctx);
    free(iothread);
}

IOThread *iothread_new(void)
{
    IOThread *iothread = calloc(1, sizeof(*iothread));

    ours_ran++;
    qemu_mutex_init(&iothread->init_done_lock);
    qemu_cond_init(&iothread->init_done_cond);
    qemu_thread_create(&iothread->thread, NULL, iothread_run,
                       iothread, QEMU_THREAD_JOINABLE);
    qemu_mutex_lock(&iothread->init_done_lock);
    while (iothread->ctx == NULL) {
        qemu_cond_wait(&iothread->init_done_cond, &iothread->init_done_lock);
    }
    qemu_mutex_unlock(&iothread->init_done_lock);
    return iothread;
}

AioContext *iothread_get_aio_context(IOThread *iothread)
{
    ours_ran++;
    return iothread->ctx;
}

static void note_context(void *opaque)
{
    qatomic_set((AioContext **)opaque, qemu_get_current_aio_context());
}

int main(void)
{
    IOThread *t = iothread_new();
    AioContext *ctx = iothread_get_aio_context(t);
    AioContext *seen = NULL;

    aio_bh_schedule_oneshot(ctx, note_context, &seen);
    while (!qatomic_read(&seen)) {
    }
    iothread_join(t);
    if (seen != ctx || ours_ran != 3) {
        fprintf(stderr, "defines-iothread: context %p (want %p), own helpers ran %d times (want 3)\n",
                (void *)seen, (void *)ctx, ours_ran);
        return 1;
    }
    return 0;
}
