/*
 * A reduced qemu/sockets.h for QEMU's unit tests on qemucoro: the system
 * socket headers only (test-aio.c includes it and uses none of QEMU's
 * socket helpers). Not installed: it is the harness's.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_UNIT_SHIM_SOCKETS_H
#define QEMUCORO_UNIT_SHIM_SOCKETS_H

#include <sys/socket.h>
#include <sys/un.h>

#endif
