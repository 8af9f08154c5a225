/*
 * QEMU's futex helpers (Linux): wait while a 32-bit word holds a value,
 * wake its waiters. QemuEvent (qemu/thread.h) is built on them. In the
 * library (the system call needs more than strict ISO C headers declare).
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_QEMU_FUTEX_H
#define QEMUCORO_QEMU_FUTEX_H

#ifdef __cplusplus
extern "C" {
#endif

/* Wakes up to n threads waiting on f. */
void qemu_futex_wake(void *f, int n);

/*
 * Sleeps while *f == val; returns at once if it differs. A return does
 * not promise *f changed (spurious wake-ups): callers re-check.
 */
void qemu_futex_wait(void *f, unsigned val);

#ifdef __cplusplus
}
#endif

#endif
