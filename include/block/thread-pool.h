/*
 * QEMU's thread pool header (thread_pool_submit_aio, thread_pool_submit_co,
 * pool parameters), served by qemucoro's generated coroutine.h. Each
 * AioContext has its own pool; callbacks run in the submitting context.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_BLOCK_THREAD_POOL_H
#define QEMUCORO_BLOCK_THREAD_POOL_H

#include "block/aio.h"

#endif
