/*
 * QEMU's EventNotifier (Linux): an eventfd that one side sets and another
 * waits on. It stays readable while set, so a read handler registered with
 * aio_set_event_notifier (block/aio.h) runs on every poll until
 * event_notifier_test_and_clear clears it.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_QEMU_EVENT_NOTIFIER_H
#define QEMUCORO_QEMU_EVENT_NOTIFIER_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* As in QEMU: one eventfd serves as both ends (rfd == wfd). */
typedef struct EventNotifier {
    int rfd;
    int wfd;
    bool initialized;
} EventNotifier;

typedef void EventNotifierHandler(EventNotifier *);

static inline void event_notifier_check(EventNotifier *e, const char *func)
{
    if (!e) {
        fprintf(stderr, "%s: notifier must not be NULL\n", func);
        abort();
    }
    if (!e->initialized) {
        fprintf(stderr, "%s: notifier used before event_notifier_init\n", func);
        abort();
    }
}

/* 0, or -errno if no eventfd could be made. `active`: start set. */
static inline int event_notifier_init(EventNotifier *e, int active)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

    e->rfd = e->wfd = -1;
    e->initialized = false;
    if (fd < 0) {
        return -errno;
    }
    e->rfd = e->wfd = fd;
    e->initialized = true;
    if (active) {
        uint64_t one = 1;

        /* A fresh counter is 0: the write cannot fail short of EINTR. */
        while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR) {
        }
    }
    return 0;
}

/* Closes the eventfd; the notifier may be initialised again. */
static inline void event_notifier_cleanup(EventNotifier *e)
{
    if (!e || !e->initialized) {
        return;
    }
    close(e->rfd);
    e->rfd = e->wfd = -1;
    e->initialized = false;
}

static inline int event_notifier_get_fd(const EventNotifier *e)
{
    return e->rfd;
}

/* Sets the notifier (setting a set notifier changes nothing). 0 or -errno. */
static inline int event_notifier_set(EventNotifier *e)
{
    uint64_t one = 1;
    ssize_t ret;

    event_notifier_check(e, __func__);
    do {
        ret = write(e->wfd, &one, sizeof(one));
    } while (ret < 0 && errno == EINTR);
    /* EAGAIN: the counter is full, which still reads as set. */
    if (ret < 0 && errno != EAGAIN) {
        return -errno;
    }
    return 0;
}

/* Clears the notifier; true if it was set. */
static inline int event_notifier_test_and_clear(EventNotifier *e)
{
    uint64_t count;
    ssize_t ret;

    event_notifier_check(e, __func__);
    do {
        ret = read(e->rfd, &count, sizeof(count));
    } while (ret < 0 && errno == EINTR);
    return ret == sizeof(count);
}

#endif
