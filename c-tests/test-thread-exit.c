/*
 * What a thread leaves behind when it exits: nothing, whether it first
 * used coroutines in its body or only in a pthread key destructor (after
 * its thread_local destructors have run). Mappings are counted in a fresh
 * process before and after 1000 such threads.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/coroutine.h"
#include "harness.h"
#include "proc-self.h"

#include <pthread.h>

#define EXITING_THREADS 1000
/* Mappings the process may gain for other reasons (malloc arenas). */
#ifndef MAPPING_SLACK
#define MAPPING_SLACK 40
#endif

static pthread_key_t late_key;

static void coroutine_fn do_nothing(void *opaque)
{
    (void)opaque;
}

static void use_coroutine(void)
{
    qemu_coroutine_enter(qemu_coroutine_create(do_nothing, NULL));
}

static void use_coroutine_in_destructor(void *value)
{
    (void)value;
    use_coroutine();
}

static void *first_use_in_destructor(void *opaque)
{
    (void)opaque;
    pthread_setspecific(late_key, &late_key);
    return NULL;
}

static void *first_use_in_body(void *opaque)
{
    (void)opaque;
    use_coroutine();
    return NULL;
}

/* Mappings gained over EXITING_THREADS threads running `body`, one at a
 * time, after a few to warm up. */
static long mappings_gained(void *(*body)(void *))
{
    pthread_t t;
    long before = 0;

    pthread_key_create(&late_key, use_coroutine_in_destructor);
    for (int i = 0; i < EXITING_THREADS + 10; i++) {
        if (i == 10) {
            before = proc_mapping_count();
        }
        pthread_create(&t, NULL, body, NULL);
        pthread_join(t, NULL);
    }
    return proc_mapping_count() - before;
}

static void exit_if_leaking(const char *what, long gained)
{
    if (gained > MAPPING_SLACK) {
        fprintf(stderr, "%s: +%ld mappings over %d threads\n",
                what, gained, EXITING_THREADS);
        exit(1);
    }
    exit(0);
}

CHILD(exit_after_use_in_body, "exit-after-use-in-body")
{
    exit_if_leaking("first use in body", mappings_gained(first_use_in_body));
}

CHILD(exit_after_use_in_destructor, "exit-after-use-in-destructor")
{
    exit_if_leaking("first use in a key destructor",
                    mappings_gained(first_use_in_destructor));
}

/*
 * Check that threads whose only coroutine runs in their body leave no
 * mapping behind (their pooled coroutine goes to the global pool).
 */
TEST_OURS(thread_exit_after_use_in_body, "/threads/exit/after-use-in-body",
          "QEMU frees the pool of the threads it starts only (+2 mappings per plain thread)")
{
    CHECK(exec_child_succeeds("exit-after-use-in-body", NULL));
}

/*
 * Check that threads whose first coroutine runs in a pthread key
 * destructor leave nothing behind either: not their pooled coroutine, not
 * their signal stack.
 */
TEST_OURS(thread_exit_after_use_in_destructor, "/threads/exit/after-use-in-destructor",
          "QEMU frees the pool of the threads it starts only (+2 mappings per plain thread)")
{
    CHECK(exec_child_succeeds("exit-after-use-in-destructor", NULL));
}
