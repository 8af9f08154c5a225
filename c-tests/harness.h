/*
 * A tiny test harness: TEST() registers a case under a path-style name,
 * the runner runs every case (or those whose name starts with argv[1]) and
 * ends with "N passed, N failed, N skipped as ours".
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_HARNESS_H
#define QEMUCORO_HARNESS_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

typedef void TestFn(void);

void harness_register(const char *name, TestFn *fn);
void harness_fail(const char *file, int line, const char *expr);

#define TEST(fn, name)                                              \
    static void fn(void);                                           \
    static void __attribute__((constructor)) fn##_register(void)    \
    {                                                               \
        harness_register(name, fn);                                 \
    }                                                               \
    static void fn(void)

/*
 * `make check-vs-qemu` builds this suite a second time against QEMU's own
 * util/ code (VS_QEMU defined). A test of behaviour QEMU lacks or leaves
 * undefined is declared with TEST_OURS and a one-line reason: there it is
 * compiled but neither run nor linked, and listed as skipped with its
 * reason.
 */
void harness_register_ours(const char *name, TestFn *fn, const char *reason);

#ifdef VS_QEMU
#define OURS_FN(fn) NULL        /* never run, so never linked */
#else
#define OURS_FN(fn) fn
#endif
#define TEST_OURS(fn, name, reason)                                 \
    static void fn(void) __attribute__((unused));                   \
    static void __attribute__((constructor)) fn##_register(void)    \
    {                                                               \
        harness_register_ours(name, OURS_FN(fn), reason);           \
    }                                                               \
    static void fn(void)

/*
 * An abort message that differs between qemucoro and QEMU (whose
 * assertions name its source file): the first against our library, the
 * second against QEMU. Either may use '*' as a wildcard.
 */
#ifdef VS_QEMU
#define ABORT_MSG(ours, qemu) (qemu)
#else
#define ABORT_MSG(ours, qemu) (ours)
#endif

/* Marks the running test failed unless cond holds. */
#define CHECK(cond)                                                 \
    do {                                                            \
        if (!(cond)) {                                              \
            harness_fail(__FILE__, __LINE__, #cond);                \
        }                                                           \
    } while (0)

/*
 * Runs fn(opaque) in a forked child and checks that the child dies of
 * SIGABRT after writing exactly `message` plus a newline on stderr ('*' in
 * `message` matches any run of characters). The child gets a 10 s alarm:
 * a hang fails the test instead of the suite.
 */
bool child_aborts_with(void (*fn)(void *), void *opaque, const char *message);

/*
 * Runs fn(opaque) in a forked child and checks that it dies of signal `sig`
 * after writing exactly `message` plus a newline on stderr (NULL: anything;
 * '*' matches any run of characters), under the same alarm: a hang fails
 * as SIGALRM.
 */
bool child_dies_with(void (*fn)(void *), void *opaque, int sig,
                     const char *message);

/* How a child ends, for child_ends_with: an exit code, or the signal that
 * killed it. */
#define EXITED(code) ((code) << 8)
#define KILLED(sig) (sig)

/*
 * Runs fn(opaque) in a forked child under the same alarm and checks that it
 * ends as `end` says (EXITED or KILLED) after writing exactly `output` on
 * stderr, any number of lines ('*' matches any run of characters).
 */
bool child_ends_with(void (*fn)(void *), void *opaque, int end,
                     const char *output);

/*
 * Runs fn(opaque) in a forked child with the same alarm: true if it
 * returns with every CHECK holding (a test that could hang runs here).
 */
bool child_passes(void (*fn)(void *), void *opaque);

/*
 * Like child_aborts_with, but the child is this program run afresh with the
 * environment variable assignment `env` ("NAME=value", or NULL for none)
 * and running only
 * the CHILD() function `child`; a `message` ending in '*' matches any line
 * that starts with the text before it.
 */
bool exec_child_aborts_with(const char *child, const char *env,
                            const char *message);

/* Runs the CHILD() function `child` as exec_child_aborts_with does and
 * checks that it exits with status 0. */
bool exec_child_succeeds(const char *child, const char *env);

void harness_register_child(const char *name, TestFn *fn);

#define CHILD(fn, name)                                             \
    static void fn(void);                                           \
    static void __attribute__((constructor)) fn##_register(void)    \
    {                                                               \
        harness_register_child(name, fn);                           \
    }                                                               \
    static void fn(void)

/* Called when the running test starts a process or thread (`what` says
 * which); see spawn-watch.c. */
void harness_note_spawn(const char *what);

/* The kernel's id of the calling thread (pthread_self() is declared const,
 * so compilers may cache it across a coroutine switch). */
long harness_gettid(void);

#endif
