/*
 * QEMU's Error API as its callers use it: error_setg into an `Error **`,
 * with &error_abort (abort at the error, naming where it was set) and
 * &error_fatal (report it and exit(1)) as destinations; error_propagate,
 * error_report_err, error_free, error_get_pretty. The Error type and the
 * non-variadic functions are in qemucoro's generated coroutine.h.
 * Not here: error hints (error_append_hint), ERRP_GUARD, error_warn,
 * error_prepend and the QAPI error classes.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_QAPI_ERROR_H
#define QEMUCORO_QAPI_ERROR_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../coroutine.h"
#include "qemu/error-report.h"   /* qemucoro_vformat */

/* Formats the message and hands a new Error to errp (see error_setg). */
static inline void __attribute__((format(printf, 5, 6)))
error_setg_internal(Error **errp, const char *src, int line,
                    const char *func, const char *fmt, ...)
{
    int saved_errno = errno;
    char *msg;
    va_list ap;

    if (!errp) {
        return;
    }
    va_start(ap, fmt);
    msg = qemucoro_vformat(fmt, ap);
    va_end(ap);
    qemucoro_error_set(errp, src, line, func, msg ? msg : fmt);
    free(msg);
    errno = saved_errno;
}

/* As error_setg_internal, with ": strerror(os_errno)" after the message. */
static inline void __attribute__((format(printf, 6, 7)))
error_setg_errno_internal(Error **errp, const char *src, int line,
                          const char *func, int os_errno,
                          const char *fmt, ...)
{
    int saved_errno = errno;
    char *msg, *full;
    va_list ap;

    if (!errp) {
        return;
    }
    va_start(ap, fmt);
    msg = qemucoro_vformat(fmt, ap);
    va_end(ap);
    full = qemucoro_format("%s: %s", msg ? msg : fmt, strerror(os_errno));
    qemucoro_error_set(errp, src, line, func, full ? full : fmt);
    free(full);
    free(msg);
    errno = saved_errno;
}

/*
 * Creates an error with a printf-style message and hands it to errp: NULL
 * drops it, &error_abort aborts, &error_fatal reports it and exits(1), any
 * other errp must point to a NULL Error * and receives it.
 */
#define error_setg(errp, fmt, ...) \
    error_setg_internal((errp), __FILE__, __LINE__, __func__, \
                        (fmt), ## __VA_ARGS__)
#define error_setg_errno(errp, os_errno, fmt, ...) \
    error_setg_errno_internal((errp), __FILE__, __LINE__, __func__, \
                              (os_errno), (fmt), ## __VA_ARGS__)

#endif
