/*
 * QEMU's coroutine-core header (create, enter, yield, self), served by
 * qemucoro's generated coroutine.h.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_QEMU_COROUTINE_CORE_H
#define QEMUCORO_QEMU_COROUTINE_CORE_H

#include "../coroutine.h"

#endif
