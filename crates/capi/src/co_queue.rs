//! C exports of `CoQueue` (QEMU's `qemu_co_queue_*` and `qemu_co_enter_*`).
//! The `qemu_co_queue_wait`, `qemu_co_queue_wait_flags`,
//! `qemu_co_enter_next` and `qemu_co_enter_all` macros in
//! `qemu/coroutine.h` turn any lock into the `QemuLockable *` taken here.

use crate::{deref, deref_opt, init};
use qemucoro_locks::co_queue::{CoQueue, CoQueueWaitFlags};
use qemucoro_locks::lockable::QemuLockable;

/// Initialises `queue` as empty. Call it before any other operation on the
/// queue.
#[no_mangle]
pub extern "C" fn qemu_co_queue_init(queue: *mut CoQueue) {
    init("qemu_co_queue_init", "queue", queue, CoQueue::new());
}

/// Queues the running coroutine on `queue` and yields; `lock` (may be
/// NULL) is released while it waits and taken again before this returns.
/// With `CO_QUEUE_WAIT_FRONT` in `flags` the coroutine waits at the front.
///
/// Use the macros `qemu_co_queue_wait(queue, lock)` and
/// `qemu_co_queue_wait_flags(queue, lock, flags)`, which accept a
/// `CoMutex *`, `QemuMutex *`, `QemuLockable *` or NULL. Aborts outside
/// coroutine context.
#[no_mangle]
pub extern "C" fn qemu_co_queue_wait_impl(
    queue: *mut CoQueue,
    lock: *mut QemuLockable,
    flags: CoQueueWaitFlags,
) {
    deref("qemu_co_queue_wait", "queue", queue).wait(deref_opt(lock), flags);
}

/// Wakes the coroutine that has waited longest; it runs after the caller
/// next yields or terminates. Returns false if the queue was empty. For
/// coroutine context; outside it use `qemu_co_enter_next`.
#[no_mangle]
pub extern "C" fn qemu_co_queue_next(queue: *mut CoQueue) -> bool {
    deref("qemu_co_queue_next", "queue", queue).enter_next(None)
}

/// Wakes every waiting coroutine, oldest first; they run after the caller
/// next yields or terminates. For coroutine context; outside it use
/// `qemu_co_enter_all`.
#[no_mangle]
pub extern "C" fn qemu_co_queue_restart_all(queue: *mut CoQueue) {
    deref("qemu_co_queue_restart_all", "queue", queue).enter_all(None);
}

/// Wakes the coroutine that has waited longest, releasing `lock` (may be
/// NULL) during the wake-up. Outside coroutine context the woken coroutine
/// runs before this returns; inside, this is `qemu_co_queue_next`. Returns
/// false if the queue was empty. Use the macro
/// `qemu_co_enter_next(queue, lock)`.
#[no_mangle]
pub extern "C" fn qemu_co_enter_next_impl(queue: *mut CoQueue, lock: *mut QemuLockable) -> bool {
    deref("qemu_co_enter_next", "queue", queue).enter_next(deref_opt(lock))
}

/// Wakes every waiting coroutine, oldest first, one at a time as
/// `qemu_co_enter_next` does. Use the macro `qemu_co_enter_all(queue, lock)`.
#[no_mangle]
pub extern "C" fn qemu_co_enter_all_impl(queue: *mut CoQueue, lock: *mut QemuLockable) {
    deref("qemu_co_enter_all", "queue", queue).enter_all(deref_opt(lock));
}

/// Whether no coroutine waits on `queue`.
#[no_mangle]
pub extern "C" fn qemu_co_queue_empty(queue: *mut CoQueue) -> bool {
    deref("qemu_co_queue_empty", "queue", queue).is_empty()
}
