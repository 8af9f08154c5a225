/*
 * QEMU's Error API (qapi/error.h) and error reporting
 * (qemu/error-report.h): where an error goes for each kind of errp, and
 * what is printed. Against QEMU (check-vs-qemu) the suite sets no GLib
 * program name, so neither side prefixes its reports.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#define _GNU_SOURCE
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Check that error_setg stores a formatted error in an empty Error *. */
TEST(setg_stores, "/error/setg-stores-message")
{
    Error *err = NULL;

    error_setg(&err, "disk %s has %d sectors", "hd0", 42);
    CHECK(err != NULL);
    CHECK(strcmp(error_get_pretty(err), "disk hd0 has 42 sectors") == 0);
    error_free(err);
}

/* Check that error_setg with a NULL errp does nothing (and keeps errno). */
TEST(setg_null_ignores, "/error/setg-null-ignores")
{
    errno = EBUSY;
    error_setg(NULL, "nobody reads this");
    CHECK(errno == EBUSY);
}

/* Check that error_setg_errno appends ": " and the errno's text. */
TEST(setg_errno_appends, "/error/setg-errno-appends-strerror")
{
    Error *err = NULL;
    char want[128];

    error_setg_errno(&err, ENOENT, "open %s", "x.img");
    snprintf(want, sizeof(want), "open x.img: %s", strerror(ENOENT));
    CHECK(strcmp(error_get_pretty(err), want) == 0);
    error_free(err);
}

static void set_into_abort(void *opaque)
{
    (void)opaque;
    error_setg(&error_abort, "boom %d", 7);
}

/* Check that an error set into &error_abort aborts, naming where it was set. */
TEST(abort_aborts, "/error/abort-aborts-at-the-error")
{
    CHECK(child_ends_with(set_into_abort, NULL, KILLED(SIGABRT),
                          "Unexpected error in set_into_abort() at *test-error.c:*:\n"
                          "boom 7\n"));
}

static void set_into_fatal(void *opaque)
{
    (void)opaque;
    error_setg(&error_fatal, "cannot go on: %s", "no disk");
}

/* Check that an error set into &error_fatal is reported and exits(1). */
TEST(fatal_exits, "/error/fatal-reports-and-exits-1")
{
    CHECK(child_ends_with(set_into_fatal, NULL, EXITED(1), "cannot go on: no disk\n"));
}

static void set_twice(void *opaque)
{
    Error *err = NULL;

    (void)opaque;
    error_setg(&err, "first");
    error_setg(&err, "second");
}

/* Check that setting into an Error * that already holds an error aborts. */
TEST(set_twice_aborts, "/error/setg-into-set-errp-aborts")
{
    CHECK(child_aborts_with(set_twice, NULL,
        ABORT_MSG("set_twice: error set at *test-error.c:* into an Error * "
                  "that already holds one: second",
                  "*error_setv: Assertion `*errp == NULL' failed.")));
}

/* Check that error_propagate moves an error, and keeps a destination's first. */
TEST(propagate_keeps_first, "/error/propagate-keeps-first")
{
    Error *dst = NULL, *a = NULL, *b = NULL;

    error_setg(&a, "a");
    error_setg(&b, "b");
    error_propagate(&dst, a);
    CHECK(dst == a);
    error_propagate(&dst, b);       /* b is freed, dst still a */
    CHECK(strcmp(error_get_pretty(dst), "a") == 0);
    error_propagate(&dst, NULL);
    CHECK(dst == a);
    error_propagate(NULL, dst);     /* freed */
}

static void propagate_to_fatal(void *opaque)
{
    (void)opaque;
    Error *err = NULL;

    error_setg(&err, "late");
    error_propagate(&error_fatal, err);
}

/* Check that propagating into &error_fatal reports and exits as setting does. */
TEST(propagate_fatal, "/error/propagate-to-fatal-exits")
{
    CHECK(child_ends_with(propagate_to_fatal, NULL, EXITED(1), "late\n"));
}

static void report_each_kind(void *opaque)
{
    (void)opaque;
    Error *err = NULL;

    error_report("e %d", 1);
    warn_report("w %s", "2");
    info_report("i");
    error_setg(&err, "from an Error");
    error_report_err(err);
    exit(0);
}

/* Check what error_report, warn_report, info_report and error_report_err print. */
TEST(report_lines, "/error/report-prints-one-line-each")
{
    CHECK(child_ends_with(report_each_kind, NULL, EXITED(0),
                           "e 1\nwarning: w 2\ninfo: i\nfrom an Error\n"));
}
