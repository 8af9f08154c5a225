/*
 * The part of QEMU's block layer header that asynchronous requests use
 * (bdrv_aio_cancel, bdrv_aio_cancel_async), served by qemucoro's generated
 * coroutine.h. There is no block layer here: no BlockDriverState, only
 * its name.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_BLOCK_BLOCK_H
#define QEMUCORO_BLOCK_BLOCK_H

#include "block/aio.h"
#include "block/aio-wait.h"

#endif
