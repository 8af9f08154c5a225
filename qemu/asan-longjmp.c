/*
 * check-qemu-asan's proof that ASan knows which stack a coroutine runs on.
 * Linked against the ASan QEMU build's libqemuutil.a and a backend archive.
 *
 * QEMU's unit tests run clean under ASan even with an unannotated backend:
 * nothing in them leaves a coroutine stack through a no-return call. This
 * does (a longjmp within the coroutine, as QEMU's own code does with
 * sigsetjmp), and there ASan must unpoison the current stack, which it can
 * only find if the backend told it about the switch. Without the
 * annotations ASan warns "ignoring requested __asan_handle_no_return"; with
 * them the run is silent.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

/* From QEMU's include/qemu/coroutine.h, without its build's headers. */
typedef struct Coroutine Coroutine;
Coroutine *qemu_coroutine_create(void (*entry)(void *), void *opaque);
void qemu_coroutine_enter(Coroutine *co);
void qemu_coroutine_yield(void);

static void jump_then_yield(void *opaque)
{
    jmp_buf env;
    char buf[64];
    int *result = opaque;

    memset(buf, 1, sizeof(buf));
    if (setjmp(env) == 0) {
        longjmp(env, 1);
    }
    qemu_coroutine_yield();
    *result = buf[3];
}

int main(void)
{
    int result = 0;
    Coroutine *co = qemu_coroutine_create(jump_then_yield, &result);

    qemu_coroutine_enter(co);
    qemu_coroutine_enter(co);
    if (result != 1) {
        fprintf(stderr, "asan-longjmp: the coroutine did not finish\n");
        return 1;
    }
    return 0;
}
