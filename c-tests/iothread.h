/*
 * QEMU's unit-test helper header (tests/unit/iothread.h): iothread_new,
 * iothread_get_aio_context and iothread_join, which qemucoro provides in
 * its own API.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_TEST_IOTHREAD_H
#define QEMUCORO_TEST_IOTHREAD_H

#include "block/aio.h"

#endif
