/*
 * A reduced qemu/osdep.h for building QEMU's unit tests (tests/unit/)
 * against qemucoro (qemu/check-qemu-tests.sh): only QEMU's generic
 * utilities, namely the system headers and GLib that QEMU's osdep.h brings
 * in, and a few of its macros. Everything else the tests use comes from
 * the installed library's headers. Not installed: it is the harness's.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_UNIT_SHIM_OSDEP_H
#define QEMUCORO_UNIT_SHIM_OSDEP_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib.h>

#include "qemu/atomic.h"

/* What QEMU's configure puts in config-host.h on a Linux host. */
#ifdef __linux__
#define CONFIG_LINUX 1
#endif

#ifndef MIN
#define MIN(a, b) (((a) < (b)) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) (((a) > (b)) ? (a) : (b))
#endif
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(x) (sizeof(x) / sizeof((x)[0]))
#endif
#ifndef container_of
#define container_of(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))
#endif
#define QEMU_BUILD_BUG_ON(x) _Static_assert(!(x), "not expecting: " #x)
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define QEMU_NORETURN __attribute__((noreturn))

/* IS_ENABLED(CONFIG_X): 1 if CONFIG_X is defined empty or as 1, else 0. */
#define QEMU_IS_EMPTY_JUNK_ junk,
#define QEMU_IS_EMPTY_1 junk,
#define QEMU_IS_EMPTY__(ignored, val, ...) val
#define QEMU_IS_EMPTY_(maybe_comma) QEMU_IS_EMPTY__(maybe_comma 1, 0)
#define QEMU_IS_EMPTY(value) QEMU_IS_EMPTY_(QEMU_IS_EMPTY_JUNK_##value)
#define IS_ENABLED(x) QEMU_IS_EMPTY(x)

#endif
