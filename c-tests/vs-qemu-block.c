/*
 * For `make check-vs-qemu` only: QEMU keeps bdrv_aio_cancel and
 * bdrv_aio_cancel_async in its block layer (block/io.c), which the
 * libqemuutil the suite links against does not include. These follow the
 * same contract over libqemuutil's own pieces: ask the request's type to
 * cancel it; the synchronous form holds a reference and runs the main
 * loop until the request's completion has dropped its own.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "block/aio-wait.h"
#include "block/block.h"

void bdrv_aio_cancel_async(BlockAIOCB *acb)
{
    if (acb->aiocb_info->cancel_async) {
        acb->aiocb_info->cancel_async(acb);
    }
}

void bdrv_aio_cancel(BlockAIOCB *acb)
{
    qemu_aio_ref(acb);
    bdrv_aio_cancel_async(acb);
    AIO_WAIT_WHILE_UNLOCKED(NULL, acb->refcnt > 1);
    qemu_aio_unref(acb);
}
