/*
 * QEMU's futex helpers (Linux): wait while a 32-bit word holds a value,
 * wake its waiters. QemuEvent (qemu/thread.h) is built on them.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_QEMU_FUTEX_H
#define QEMUCORO_QEMU_FUTEX_H

#include <errno.h>
#include <linux/futex.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#define qemu_futex(...) syscall(__NR_futex, __VA_ARGS__)

/* Wakes up to n threads waiting on f. */
static inline void qemu_futex_wake(void *f, int n)
{
    qemu_futex(f, FUTEX_WAKE, n, NULL, NULL, 0);
}

/*
 * Sleeps while *f == val; returns at once if it differs. A return does
 * not promise *f changed (spurious wake-ups): callers re-check.
 */
static inline void qemu_futex_wait(void *f, unsigned val)
{
    while (qemu_futex(f, FUTEX_WAIT, (int)val, NULL, NULL, 0)) {
        if (errno == EWOULDBLOCK) {
            return;
        }
        if (errno != EINTR) {
            fprintf(stderr, "qemu_futex_wait: futex failed: errno %d\n", errno);
            abort();
        }
    }
}

#endif
