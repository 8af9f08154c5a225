/*
 * check-qemu-asan's proof that deleted coroutines do not leak ASan's fake
 * stacks. Linked against the ASan QEMU build's libqemuutil.a and the
 * annotated backend; run with detect_stack_use_after_return=1, under which
 * every coroutine stack gets its own fake stack (megabytes of address space).
 *
 * Rounds of many coroutines, all alive at once (so QEMU's pool cannot keep
 * them all and deletes most), each with a frame on its fake stack across a
 * yield. Once the first round has filled the pool and ASan's caches, the
 * process must not grow: a backend that kept the fake stack of a terminated
 * coroutine would grow by gigabytes per round.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <stdio.h>
#include <string.h>

/* From QEMU's include/qemu/coroutine.h, without its build's headers. */
typedef struct Coroutine Coroutine;
Coroutine *qemu_coroutine_create(void (*entry)(void *), void *opaque);
void qemu_coroutine_enter(Coroutine *co);
void qemu_coroutine_yield(void);

#define COROUTINES 500
#define ROUNDS 4
#define MAX_GROWTH_KB (256 * 1024)

static Coroutine *cos[COROUTINES];

/* Keeps buf's frame (on the fake stack) alive and addressed. */
static void __attribute__((noinline)) touch(char *buf)
{
    __asm__ volatile("" : : "r"(buf) : "memory");
}

static void hold_frame_across_yield(void *opaque)
{
    char buf[64];

    memset(buf, 1, sizeof(buf));
    touch(buf);
    qemu_coroutine_yield();
    touch(buf);
}

static long vm_size_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");

    while (f && fgets(line, sizeof(line), f)) {
        if (sscanf(line, "VmSize: %ld kB", &kb) == 1) {
            break;
        }
    }
    if (f) {
        fclose(f);
    }
    return kb;
}

int main(void)
{
    long after_first = 0;

    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < COROUTINES; i++) {
            cos[i] = qemu_coroutine_create(hold_frame_across_yield, NULL);
            qemu_coroutine_enter(cos[i]);
        }
        for (int i = 0; i < COROUTINES; i++) {
            qemu_coroutine_enter(cos[i]);
        }
        if (round == 0) {
            after_first = vm_size_kb();
        }
    }
    long growth = vm_size_kb() - after_first;
    if (after_first < 0 || growth > MAX_GROWTH_KB) {
        fprintf(stderr, "asan-fake-stack: grew by %ld kB over %d rounds of %d "
                "coroutines: fake stacks leak\n", growth, ROUNDS - 1, COROUTINES);
        return 1;
    }
    printf("%ld\n", growth);
    return 0;
}
