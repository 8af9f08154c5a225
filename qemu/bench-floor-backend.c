/*
 * The "floor" column of `make bench-qemu`: a measurement tool, never
 * shipped or installed. It is the cheapest coroutine backend QEMU's
 * util/qemu-coroutine.c can run on, so that the bench shows in the same run
 * how far any drop-in backend could get: test-coroutine is relinked with
 * this file in place of util/coroutine-ucontext.c.
 *
 * Per switch it does only what QEMU's contract needs: store the new current
 * coroutine in TLS, pick the slot (the entered coroutine's for ENTER, the
 * leaving one's otherwise) and run the same switch as crates/switch/src/arch/
 * x86_64.rs (push the six callee-saved registers, swap the stack pointer
 * with the slot, pop, leave with `jmp`). No checks of any kind, no
 * sanitizer hooks, no overflow canary, no guard page: enough for
 * test-coroutine's cases on one thread (the bench runs them before timing),
 * not for real use. x86_64 System V only.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

/* QEMU's CoroutineAction values (include/qemu/coroutine_int.h). */
enum { FLOOR_YIELD = 1, FLOOR_TERMINATE = 2, FLOOR_ENTER = 3 };

/*
 * The head of QEMU's struct Coroutine, as far as a backend touches it, padded
 * to its 11 words; qemu/coroutine-qemucoro.c checks the same layout with
 * QEMU's own headers when the qemucoro tree is built.
 */
typedef struct Coroutine Coroutine;
struct Coroutine {
    void (*entry)(void *);
    void *entry_arg;
    Coroutine *caller;
    void *qemu_owned[8];
};

typedef struct {
    Coroutine base;
    /* The switch's slot: offset 88, hard-coded in the assembly below. */
    uintptr_t sp;
    void *stack;
} FloorCoroutine;

_Static_assert(sizeof(Coroutine) == 88, "struct Coroutine is 11 words");
_Static_assert(offsetof(FloorCoroutine, sp) == 88, "slot offset");

#define FLOOR_STACK_SIZE (1 << 20) /* QEMU's COROUTINE_STACK_SIZE */

/* The running coroutine; the assembly stores it with the local-exec model. */
__thread Coroutine *floor_current
    __attribute__((visibility("hidden"), tls_model("local-exec")));
static __thread FloorCoroutine floor_leader;

int qemu_coroutine_switch(Coroutine *from, Coroutine *to, int action);

/*
 * rdi = from, rsi = to, edx = action. The value returned on the other side
 * is this side's action.
 */
__asm__(
    ".text\n"
    ".p2align 4\n"
    ".globl qemu_coroutine_switch\n"
    ".type qemu_coroutine_switch,@function\n"
    "qemu_coroutine_switch:\n"
    "    movq %rsi, %fs:floor_current@tpoff\n"
    "    leaq 88(%rdi), %rax\n"
    "    leaq 88(%rsi), %rcx\n"
    "    cmpl $3, %edx\n"
    "    cmoveq %rcx, %rax\n"
    "    pushq %rbp\n"
    "    pushq %rbx\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    movq %rsp, %rcx\n"
    "    movq (%rax), %rsp\n"
    "    movq %rcx, (%rax)\n"
    "    movl %edx, %eax\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbx\n"
    "    popq %rbp\n"
    "    popq %rcx\n"
    "    jmpq *%rcx\n"
    ".size qemu_coroutine_switch, .-qemu_coroutine_switch\n"
    /* A fresh stack's first frame: r12 = the FloorCoroutine. */
    ".p2align 4\n"
    "floor_fiber_start:\n"
    "    movq %r12, %rdi\n"
    "    call floor_main\n"
    "    ud2\n");

void floor_fiber_start(void);

/* Runs entry after entry on one stack: QEMU's pool re-enters it after
 * TERMINATE with a new entry set. */
__attribute__((used, noreturn)) void floor_main(FloorCoroutine *co);
__attribute__((used, noreturn)) void floor_main(FloorCoroutine *co)
{
    for (;;) {
        co->base.entry(co->base.entry_arg);
        qemu_coroutine_switch(&co->base, co->base.caller, FLOOR_TERMINATE);
    }
}

Coroutine *qemu_coroutine_new(void)
{
    FloorCoroutine *co = calloc(1, sizeof(*co));
    void *stack = mmap(NULL, FLOOR_STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (!co || stack == MAP_FAILED) {
        abort();
    }
    co->stack = stack;
    /* The frame the switch pops: r15 r14 r13 r12 rbx rbp, then where it
     * jumps; floor_fiber_start then calls with a 16-byte aligned stack. */
    uintptr_t *frame = (uintptr_t *)((char *)stack + FLOOR_STACK_SIZE) - 9;
    for (int i = 0; i < 9; i++) {
        frame[i] = 0;
    }
    frame[3] = (uintptr_t)co;
    frame[6] = (uintptr_t)floor_fiber_start;
    co->sp = (uintptr_t)frame;
    return &co->base;
}

void qemu_coroutine_delete(Coroutine *base)
{
    FloorCoroutine *co = (FloorCoroutine *)base;
    munmap(co->stack, FLOOR_STACK_SIZE);
    free(co);
}

Coroutine *qemu_coroutine_self(void)
{
    Coroutine *self = floor_current;
    if (__builtin_expect(!self, 0)) {
        self = &floor_leader.base;
        floor_current = self;
    }
    return self;
}

bool qemu_in_coroutine(void)
{
    Coroutine *self = floor_current;
    return self && self->caller;
}
