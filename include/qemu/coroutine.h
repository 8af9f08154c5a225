/*
 * QEMU's public coroutine header, served by qemucoro: code written for QEMU
 * that does #include "qemu/coroutine.h" compiles against this.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_QEMU_COROUTINE_H
#define QEMUCORO_QEMU_COROUTINE_H

#include "qemu/coroutine-core.h"

#endif
