/*
 * QEMU's coroutine internals are not qemucoro's: this stand-in only lets
 * test-coroutine.c compile. Its one user, /basic/no-dangling-access,
 * copies and overwrites a Coroutine by value, which an opaque Coroutine
 * forbids; QEMU registers that case only with CONFIG_COROUTINE_POOL, which
 * the harness leaves undefined, so the dummy layout below is never read.
 * Not installed: it is the harness's.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_UNIT_SHIM_COROUTINE_INT_H
#define QEMUCORO_UNIT_SHIM_COROUTINE_INT_H

#include "qemu/coroutine.h"

struct Coroutine {
    char never_read;
};

#endif
