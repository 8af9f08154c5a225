/*
 * Check that QEMU-style code compiles against the installed headers (make
 * check-install): its forward declarations come first, as QEMU's
 * qemu/typedefs.h and qemu/coroutine-core.h make them, and its structs
 * embed the lock types by their struct tags. With anonymous typedef'd
 * structs in the header this fails with "conflicting types for 'CoMutex'".
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
typedef struct AioContext AioContext;
typedef struct Coroutine Coroutine;
typedef struct CoMutex CoMutex;
typedef struct CoQueue CoQueue;
typedef struct CoRwlock CoRwlock;
typedef struct QEMUBH QEMUBH;
typedef struct QEMUTimer QEMUTimer;
struct CoQueue;

#include "qemu/coroutine.h"
#include "block/aio.h"

/* A request as a block driver would keep it: the locks by value. */
struct Request {
    struct CoMutex lock;
    struct CoQueue waiters;
    CoRwlock rwlock;
};

_Static_assert(sizeof(struct CoMutex) == sizeof(CoMutex), "one CoMutex type");
_Static_assert(sizeof(struct CoQueue) == 2 * sizeof(void *), "CoQueue is two pointers");

int main(void)
{
    struct Request r;
    AioContext *ctx = qemu_get_aio_context();

    qemu_co_mutex_init(&r.lock);
    qemu_co_queue_init(&r.waiters);
    qemu_co_rwlock_init(&r.rwlock);
    return ctx != NULL && qemu_co_queue_empty(&r.waiters) ? 0 : 1;
}
