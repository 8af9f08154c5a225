/*
 * QEMU's error reporting to stderr: error_report, warn_report and
 * info_report print "[program: ][warning: |info: ]message" on one line, the
 * program's name being GLib's (g_get_prgname) when the program uses GLib
 * and has set one (g_test_init, QEMU's error_init), as in QEMU. Not here: locations
 * (loc_push_*), timestamps (-msg timestamp=on), the *_report_once forms.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_QEMU_ERROR_REPORT_H
#define QEMUCORO_QEMU_ERROR_REPORT_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "../coroutine.h"

/* The formatted message in malloc'd memory, or NULL if out of memory. */
static inline char * __attribute__((format(printf, 1, 0)))
qemucoro_vformat(const char *fmt, va_list ap)
{
    va_list again;
    char *msg;
    int len;

    va_copy(again, ap);
    len = vsnprintf(NULL, 0, fmt, again);
    va_end(again);
    msg = len < 0 ? NULL : (char *)malloc((size_t)len + 1);
    if (msg) {
        vsnprintf(msg, (size_t)len + 1, fmt, ap);
    }
    return msg;
}

static inline char * __attribute__((format(printf, 1, 2)))
qemucoro_format(const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = qemucoro_vformat(fmt, ap);
    va_end(ap);
    return msg;
}

/* kind: 0 error, 1 warning, 2 info (qemucoro_report's). */
static inline void __attribute__((format(printf, 2, 0)))
qemucoro_vreport(int kind, const char *fmt, va_list ap)
{
    char *msg = qemucoro_vformat(fmt, ap);

    qemucoro_report(kind, msg ? msg : fmt);
    free(msg);
}

static inline void __attribute__((format(printf, 1, 0)))
error_vreport(const char *fmt, va_list ap)
{
    qemucoro_vreport(0, fmt, ap);
}

static inline void __attribute__((format(printf, 1, 0)))
warn_vreport(const char *fmt, va_list ap)
{
    qemucoro_vreport(1, fmt, ap);
}

static inline void __attribute__((format(printf, 1, 0)))
info_vreport(const char *fmt, va_list ap)
{
    qemucoro_vreport(2, fmt, ap);
}

static inline void __attribute__((format(printf, 1, 2)))
error_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    error_vreport(fmt, ap);
    va_end(ap);
}

static inline void __attribute__((format(printf, 1, 2)))
warn_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    warn_vreport(fmt, ap);
    va_end(ap);
}

static inline void __attribute__((format(printf, 1, 2)))
info_report(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    info_vreport(fmt, ap);
    va_end(ap);
}

/* Prints to stderr with no prefix and no newline added. */
static inline void __attribute__((format(printf, 1, 2)))
error_printf(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

#endif
