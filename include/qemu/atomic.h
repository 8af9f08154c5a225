/*
 * QEMU's atomic operations (qatomic_*, smp_mb ...) on the compiler's
 * __atomic builtins, with QEMU's orderings: plain reads and sets are
 * relaxed, read-modify-write operations are sequentially consistent.
 *
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_QEMU_ATOMIC_H
#define QEMUCORO_QEMU_ATOMIC_H

/* Stops the compiler, not the CPU, from moving memory accesses across it. */
#define barrier()            __asm__ __volatile__("" ::: "memory")

#if defined(__SANITIZE_THREAD__)
#define QEMUCORO_ATOMIC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define QEMUCORO_ATOMIC_TSAN 1
#endif
#endif

#ifdef QEMUCORO_ATOMIC_TSAN
/*
 * GCC refuses fences under -fsanitize=thread (TSan does not model them).
 * A sequentially consistent read-modify-write of one word orders memory as
 * a full fence does, and TSan sees it.
 */
static int qemucoro_tsan_fence_word __attribute__((unused));
#define smp_mb() \
    ((void)__atomic_fetch_add(&qemucoro_tsan_fence_word, 0, __ATOMIC_SEQ_CST))
#define smp_mb_release()     smp_mb()
#define smp_mb_acquire()     smp_mb()
#else
#define smp_mb()             __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define smp_mb_release()     __atomic_thread_fence(__ATOMIC_RELEASE)
#define smp_mb_acquire()     __atomic_thread_fence(__ATOMIC_ACQUIRE)
#endif
#define smp_wmb()            smp_mb_release()
#define smp_rmb()            smp_mb_acquire()
#define smp_mb__before_rmw() smp_mb()
#define smp_mb__after_rmw()  smp_mb()

/* Whole-variable loads and stores that the compiler may not tear or merge. */
#define qatomic_read(ptr)        __atomic_load_n(ptr, __ATOMIC_RELAXED)
#define qatomic_set(ptr, i)      __atomic_store_n(ptr, i, __ATOMIC_RELAXED)
#define qatomic_load_acquire(ptr)     __atomic_load_n(ptr, __ATOMIC_ACQUIRE)
#define qatomic_store_release(ptr, i) __atomic_store_n(ptr, i, __ATOMIC_RELEASE)
#define qatomic_rcu_read(ptr)    __atomic_load_n(ptr, __ATOMIC_ACQUIRE)
#define qatomic_rcu_set(ptr, i)  __atomic_store_n(ptr, i, __ATOMIC_RELEASE)
#define qatomic_mb_read(ptr)     __atomic_load_n(ptr, __ATOMIC_SEQ_CST)
#define qatomic_set_mb(ptr, i)   __atomic_store_n(ptr, i, __ATOMIC_SEQ_CST)

/* Read-modify-write: return the old value (fetch_*) or the new one (*_fetch). */
#define qatomic_xchg(ptr, i)     __atomic_exchange_n(ptr, i, __ATOMIC_SEQ_CST)
#define qatomic_fetch_add(ptr, n) __atomic_fetch_add(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_fetch_sub(ptr, n) __atomic_fetch_sub(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_fetch_and(ptr, n) __atomic_fetch_and(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_fetch_or(ptr, n)  __atomic_fetch_or(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_fetch_xor(ptr, n) __atomic_fetch_xor(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_fetch_inc(ptr)   qatomic_fetch_add(ptr, 1)
#define qatomic_fetch_dec(ptr)   qatomic_fetch_sub(ptr, 1)
#define qatomic_add_fetch(ptr, n) __atomic_add_fetch(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_sub_fetch(ptr, n) __atomic_sub_fetch(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_and_fetch(ptr, n) __atomic_and_fetch(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_or_fetch(ptr, n)  __atomic_or_fetch(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_xor_fetch(ptr, n) __atomic_xor_fetch(ptr, n, __ATOMIC_SEQ_CST)
#define qatomic_inc_fetch(ptr)   qatomic_add_fetch(ptr, 1)
#define qatomic_dec_fetch(ptr)   qatomic_sub_fetch(ptr, 1)

/* The same operations when the result is not wanted. */
#define qatomic_add(ptr, n)      ((void)qatomic_fetch_add(ptr, n))
#define qatomic_sub(ptr, n)      ((void)qatomic_fetch_sub(ptr, n))
#define qatomic_and(ptr, n)      ((void)qatomic_fetch_and(ptr, n))
#define qatomic_or(ptr, n)       ((void)qatomic_fetch_or(ptr, n))
#define qatomic_xor(ptr, n)      ((void)qatomic_fetch_xor(ptr, n))
#define qatomic_inc(ptr)         ((void)qatomic_fetch_inc(ptr))
#define qatomic_dec(ptr)         ((void)qatomic_fetch_dec(ptr))

/* Stores `new` if *ptr holds `old`; returns what *ptr held before. */
#define qatomic_cmpxchg(ptr, old, new) ({                                  \
    __typeof__(*(ptr)) qatomic_cmpxchg_seen_ = (old);                      \
    (void)__atomic_compare_exchange_n(ptr, &qatomic_cmpxchg_seen_, new,    \
                                      false, __ATOMIC_SEQ_CST,             \
                                      __ATOMIC_SEQ_CST);                   \
    qatomic_cmpxchg_seen_;                                                 \
})

#endif
