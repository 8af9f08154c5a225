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

/*
 * The main loop's fd handlers. QEMU keeps them in a separate context that
 * only its main loop (not aio_poll) runs; with no main loop here, they
 * belong to the main context and aio_poll(qemu_get_aio_context(), ...)
 * runs them.
 */
#define qemu_set_fd_handler(fd, fd_read, fd_write, opaque) \
    aio_set_fd_handler(qemu_get_aio_context(), (fd), (fd_read), (fd_write), \
                       NULL, NULL, (opaque))

#endif
