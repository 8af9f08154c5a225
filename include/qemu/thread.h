/*
 * QemuMutex: QEMU's plain thread mutex, as a thin pthread wrapper, so that
 * it can serve as a QemuLockable next to CoMutex. Only the mutex part of
 * QEMU's qemu/thread.h.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_QEMU_THREAD_H
#define QEMUCORO_QEMU_THREAD_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct QemuMutex {
    pthread_mutex_t lock;
    bool initialized;
} QemuMutex;

/* Misuse and pthread failures end the process, as in QEMU. */
static inline void qemu_mutex_die(const char *func, const char *what)
{
    fprintf(stderr, "%s: %s\n", func, what);
    abort();
}

static inline void qemu_mutex_check(QemuMutex *mutex, const char *func)
{
    if (!mutex) {
        qemu_mutex_die(func, "mutex must not be NULL");
    }
    if (!mutex->initialized) {
        qemu_mutex_die(func, "mutex used before qemu_mutex_init");
    }
}

static inline void qemu_mutex_init(QemuMutex *mutex)
{
    int err;

    if (!mutex) {
        qemu_mutex_die(__func__, "mutex must not be NULL");
    }
    err = pthread_mutex_init(&mutex->lock, NULL);
    if (err) {
        qemu_mutex_die(__func__, strerror(err));
    }
    mutex->initialized = true;
}

static inline void qemu_mutex_destroy(QemuMutex *mutex)
{
    int err;

    qemu_mutex_check(mutex, __func__);
    mutex->initialized = false;
    err = pthread_mutex_destroy(&mutex->lock);
    if (err) {
        qemu_mutex_die(__func__, strerror(err));
    }
}

static inline void qemu_mutex_lock(QemuMutex *mutex)
{
    int err;

    qemu_mutex_check(mutex, __func__);
    err = pthread_mutex_lock(&mutex->lock);
    if (err) {
        qemu_mutex_die(__func__, strerror(err));
    }
}

/* 0 if the mutex was taken, -EBUSY if another holder has it. */
static inline int qemu_mutex_trylock(QemuMutex *mutex)
{
    int err;

    qemu_mutex_check(mutex, __func__);
    err = pthread_mutex_trylock(&mutex->lock);
    if (err == EBUSY) {
        return -EBUSY;
    }
    if (err) {
        qemu_mutex_die(__func__, strerror(err));
    }
    return 0;
}

static inline void qemu_mutex_unlock(QemuMutex *mutex)
{
    int err;

    qemu_mutex_check(mutex, __func__);
    err = pthread_mutex_unlock(&mutex->lock);
    if (err) {
        qemu_mutex_die(__func__, strerror(err));
    }
}

#endif
