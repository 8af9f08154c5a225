/*
 * QEMU's main loop header: the main context and its bottom halves, served
 * by qemucoro's generated coroutine.h.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_QEMU_MAIN_LOOP_H
#define QEMUCORO_QEMU_MAIN_LOOP_H

#include "block/aio.h"

#define qemu_bh_new(cb, opaque) \
    aio_bh_new_full(qemu_get_aio_context(), (cb), (opaque), #cb, NULL)

/* qemu_set_fd_handler is a function of coroutine.h. */

#endif
