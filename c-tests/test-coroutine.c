/*
 * The coroutine core: create, enter, yield, self, nesting, the pool.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include "qemu/coroutine.h"
#include "harness.h"
#include "proc-self.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/*
 * Check that outside any coroutine self() is the thread's leader: non-NULL,
 * stable, and not "in coroutine".
 */
TEST(self_outside_is_stable_leader, "/basic/self-outside-coroutine")
{
    Coroutine *a = qemu_coroutine_self();
    CHECK(a != NULL);
    CHECK(qemu_coroutine_self() == a);
    CHECK(!qemu_in_coroutine());
    CHECK(!qemu_coroutine_entered(a));
}

static void coroutine_fn set_and_check_self(void *opaque)
{
    Coroutine **seen = opaque;
    *seen = qemu_coroutine_self();
    CHECK(qemu_in_coroutine());
    CHECK(qemu_coroutine_entered(*seen));
}

/* Check that enter runs the entry with its opaque, as the coroutine itself. */
TEST(enter_runs_entry_as_self, "/basic/enter")
{
    Coroutine *seen = NULL;
    Coroutine *co = qemu_coroutine_create(set_and_check_self, &seen);
    CHECK(co != NULL);
    CHECK(!qemu_coroutine_entered(co));
    qemu_coroutine_enter(co);
    CHECK(seen == co);
    CHECK(!qemu_in_coroutine());
}

static void coroutine_fn count_yields(void *opaque)
{
    int *step = opaque;
    for (*step = 1; *step < 4; (*step)++) {
        qemu_coroutine_yield();
    }
}

/* Check that each yield returns to the enterer and each enter resumes. */
TEST(yield_returns_to_enterer, "/basic/yield")
{
    int step = 0;
    Coroutine *co = qemu_coroutine_create(count_yields, &step);

    for (int expect = 1; expect <= 3; expect++) {
        qemu_coroutine_enter(co);
        CHECK(step == expect);
        CHECK(!qemu_coroutine_entered(co));
    }
    qemu_coroutine_enter(co);   /* loop ends, coroutine returns */
    CHECK(step == 4);
}

static void coroutine_fn enter_self_if_inactive(void *opaque)
{
    int *runs = opaque;
    (*runs)++;
    qemu_coroutine_enter_if_inactive(qemu_coroutine_self());   /* no-op */
    qemu_coroutine_yield();
    (*runs)++;
}

/* Check that enter_if_inactive skips an entered coroutine and enters a
 * suspended one. */
TEST(enter_if_inactive, "/basic/enter-if-inactive")
{
    int runs = 0;
    Coroutine *co = qemu_coroutine_create(enter_self_if_inactive, &runs);
    qemu_coroutine_enter_if_inactive(co);
    CHECK(runs == 1);
    qemu_coroutine_enter_if_inactive(co);
    CHECK(runs == 2);
}

static void coroutine_fn do_nothing(void *opaque)
{
    (void)opaque;
}

/* Check that a returned coroutine is recycled: the next create gets it. */
TEST(terminated_coroutine_is_reused, "/pool/reuse")
{
    Coroutine *first = qemu_coroutine_create(do_nothing, NULL);
    qemu_coroutine_enter(first);
    Coroutine *second = qemu_coroutine_create(do_nothing, NULL);
    CHECK(second == first);
    qemu_coroutine_enter(second);
}

#define POOLED_MANY 1500

static void coroutine_fn touch_and_count(void *opaque)
{
    volatile char frame[8192];
    int *count = opaque;

    frame[0] = frame[4096] = 1;
    qemu_coroutine_yield();
    *count += frame[0] + frame[4096] - 1;
}

/*
 * Check that pooled coroutines whose stack pages below the top were given
 * back (a pool of over 1024: all but a thread's few hottest) run again
 * when reused.
 */
TEST(reuse_after_cold_pages_given_back, "/pool/reuse-after-cold-pages-given-back")
{
    static Coroutine *cos[POOLED_MANY];
    int count = 0;

    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < POOLED_MANY; i++) {
            cos[i] = qemu_coroutine_create(touch_and_count, &count);
            qemu_coroutine_enter(cos[i]);
        }
        for (int i = 0; i < POOLED_MANY; i++) {
            qemu_coroutine_enter(cos[i]);
        }
    }
    CHECK(count == 2 * POOLED_MANY);
}

#define BURST 2048
#define BURST_STACK (64 * 1024)

static void coroutine_fn use_64k(void *opaque)
{
    volatile char frame[BURST_STACK];

    for (size_t i = 0; i < sizeof(frame); i += 1024) {
        frame[i] = 1;
    }
    (void)opaque;
    qemu_coroutine_yield();
}

/*
 * Check that a burst of coroutines that each used 64 KiB of stack does not
 * stay resident once they have finished: the pool keeps their stacks but
 * gives back the pages below each top (it kept all 64 MiB of them).
 */
CHILD(burst_then_idle, "burst-then-idle")
{
    static Coroutine *cos[BURST];
    long before = proc_resident_bytes() / 1024;

    for (int i = 0; i < BURST; i++) {
        cos[i] = qemu_coroutine_create(use_64k, NULL);
        qemu_coroutine_enter(cos[i]);
    }
    for (int i = 0; i < BURST; i++) {
        qemu_coroutine_enter(cos[i]);
    }
    long kept = proc_resident_bytes() / 1024 - before;
    if (kept > BURST * (BURST_STACK / 1024) / 2) {
        fprintf(stderr, "kept %ld KiB\n", kept);
        exit(1);
    }
    exit(0);
}

TEST(burst_gives_back_stack_pages, "/pool/burst-gives-back-stack-pages")
{
    CHECK(exec_child_succeeds("burst-then-idle", NULL));
}

typedef struct {
    Coroutine *parent;    /* the coroutine that entered us; NULL at the top */
    int depth;
    int max_depth;
    int reached;
} Nest;

static void coroutine_fn nest(void *opaque)
{
    Nest *n = opaque;
    Coroutine *me = qemu_coroutine_self();

    CHECK(!n->parent || qemu_coroutine_entered(n->parent));
    if (++n->depth > n->reached) {
        n->reached = n->depth;
    }
    if (n->depth < n->max_depth) {
        Coroutine *parent = n->parent;
        n->parent = me;
        qemu_coroutine_enter(qemu_coroutine_create(nest, n));
        n->parent = parent;
        CHECK(qemu_coroutine_self() == me);
    }
    n->depth--;
}

/* Check that coroutines nest 1000 deep, each returning to its parent. */
TEST(nesting_1000_deep, "/nesting/1000-deep")
{
    Nest n = { .parent = NULL, .max_depth = 1000 };
    qemu_coroutine_enter(qemu_coroutine_create(nest, &n));
    CHECK(n.reached == 1000);
    CHECK(n.depth == 0);
    CHECK(!qemu_in_coroutine());
}

typedef struct {
    Coroutine *target;
    int order[4];
    int n;
} LastEnterer;

static void coroutine_fn note_steps(void *opaque)
{
    LastEnterer *t = opaque;
    t->order[t->n++] = 1;
    qemu_coroutine_yield();       /* back to the middle coroutine */
    t->order[t->n++] = 3;         /* returns to main, its last enterer */
}

static void coroutine_fn enter_target(void *opaque)
{
    LastEnterer *t = opaque;
    qemu_coroutine_enter(t->target);
    t->order[t->n++] = 2;
}

/*
 * Check that a returning coroutine goes back to its last enterer, not its
 * creator:
 *   main creates T; M enters T; T yields to M; M returns;
 *   main enters T; T returns to main.
 */
TEST(return_goes_to_last_enterer, "/nesting/last-enterer")
{
    LastEnterer t = { 0 };
    t.target = qemu_coroutine_create(note_steps, &t);
    qemu_coroutine_enter(qemu_coroutine_create(enter_target, &t));
    CHECK(t.n == 2 && t.order[0] == 1 && t.order[1] == 2);
    qemu_coroutine_enter(t.target);
    CHECK(t.n == 3 && t.order[2] == 3);
    CHECK(!qemu_in_coroutine());
}

#define MANY 10000

static void coroutine_fn yield_once_then_count(void *opaque)
{
    int *finished = opaque;
    qemu_coroutine_yield();
    (*finished)++;
}

/* Check that 10,000 coroutines can be suspended at once, then all finish. */
TEST(ten_thousand_suspended, "/scale/10000-suspended")
{
    static Coroutine *cos[MANY];
    int finished = 0;

    for (int i = 0; i < MANY; i++) {
        cos[i] = qemu_coroutine_create(yield_once_then_count, &finished);
        qemu_coroutine_enter(cos[i]);
    }
    CHECK(finished == 0);
    for (int i = 0; i < MANY; i++) {
        CHECK(!qemu_coroutine_entered(cos[i]));
        qemu_coroutine_enter(cos[i]);
    }
    CHECK(finished == MANY);
}
