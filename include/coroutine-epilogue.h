/*
 * qemucoro: what the generated coroutine.h adds after its declarations:
 * GOT calls for the hot entry points, QEMU's socket I/O macros and the
 * 2014 API's names. Included by coroutine.h; not meant to be included on
 * its own.
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_COROUTINE_EPILOGUE_H
#define QEMUCORO_COROUTINE_EPILOGUE_H

/*
 * The hot entry points are called through the GOT, not the PLT (GCC's
 * noplt): a program on libqemucoro.so saves an indirect jump per call, and
 * with the archive the linker turns each call back into a direct one.
 */
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(noplt)
#ifdef __cplusplus
extern "C" {
#endif
__attribute__((noplt)) Coroutine *qemu_coroutine_create(CoroutineEntry *entry, void *opaque);
__attribute__((noplt)) void qemu_coroutine_enter(Coroutine *co);
__attribute__((noplt)) void qemu_coroutine_yield(void);
__attribute__((noplt)) Coroutine *qemu_coroutine_self(void);
__attribute__((noplt)) bool qemu_in_coroutine(void);
__attribute__((noplt)) bool qemu_coroutine_entered(Coroutine *co);
__attribute__((noplt)) void qemu_co_mutex_lock(CoMutex *mutex);
__attribute__((noplt)) void qemu_co_mutex_unlock(CoMutex *mutex);
__attribute__((noplt)) void aio_co_wake(Coroutine *co);
#ifdef __cplusplus
}
#endif
#endif
#endif

/* Coroutine socket I/O: QEMU's macros over qemu_co_sendv_recvv. */
#define qemu_co_recvv(sockfd, iov, iov_cnt, offset, bytes) \
    qemu_co_sendv_recvv(sockfd, iov, iov_cnt, offset, bytes, false)
#define qemu_co_sendv(sockfd, iov, iov_cnt, offset, bytes) \
    qemu_co_sendv_recvv(sockfd, iov, iov_cnt, offset, bytes, true)
#define qemu_co_recv(sockfd, buf, bytes) \
    qemu_co_send_recv(sockfd, buf, bytes, false)
#define qemu_co_send(sockfd, buf, bytes) \
    qemu_co_send_recv(sockfd, buf, bytes, true)

/*
 * The 2014 API ("Coroutines in QEMU: The basics"): define
 * QEMUCORO_LEGACY_API before including coroutine.h to get
 * qemu_coroutine_create(entry) and qemu_coroutine_enter(co, opaque).
 */
#ifdef QEMUCORO_LEGACY_API
#define qemu_coroutine_create(entry) qemucoro_legacy_create(entry)
#define qemu_coroutine_enter(co, opaque) qemucoro_legacy_enter((co), (opaque))
#endif

#endif /* QEMUCORO_COROUTINE_EPILOGUE_H */
