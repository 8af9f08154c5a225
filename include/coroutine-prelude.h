/*
 * qemucoro: what the generated coroutine.h needs before its declarations:
 * QEMU's function annotations and the callback function types.
 * Included by coroutine.h; not meant to be included on its own.
 * SPDX-License-Identifier: MIT OR Apache-2.0
 */
#ifndef QEMUCORO_COROUTINE_PRELUDE_H
#define QEMUCORO_COROUTINE_PRELUDE_H

/* QEMU's annotations: markers for readers and static checkers, empty here. */
#ifndef coroutine_fn
#define coroutine_fn
#endif
#ifndef coroutine_mixed_fn
#define coroutine_mixed_fn
#endif

/*
 * A coroutine, or a thread's leader (which has no fiber). Opaque to C:
 * its first fields are laid out as QEMU's, for QEMU's own util/async.c
 * when QEMU runs on this library, but programs use the functions.
 */
typedef struct Coroutine Coroutine;

/* The function a coroutine runs (a function type, as in QEMU). */
typedef void coroutine_fn CoroutineEntry(void *opaque);

/* The event loop's callback types (function types, as in QEMU). */
typedef void IOHandler(void *opaque);
typedef bool AioPollFn(void *opaque);
typedef void QEMUBHFunc(void *opaque);
typedef void QEMUTimerCB(void *opaque);
typedef void CleanupFunc(void *opaque);

/* The thread pool's and asynchronous requests' (as in QEMU). */
typedef int ThreadPoolFunc(void *opaque);
typedef void BlockCompletionFunc(void *opaque, int ret);

#endif /* QEMUCORO_COROUTINE_PRELUDE_H */
