//! C exports of `CoMutex` (QEMU's `qemu_co_mutex_*`).

use crate::{deref, init};
use qemucoro_locks::co_mutex::CoMutex;

/// Initialises `mutex` as unlocked. Call it before any other operation on
/// the mutex.
#[no_mangle]
pub extern "C" fn qemu_co_mutex_init(mutex: *mut CoMutex) {
    init("qemu_co_mutex_init", "mutex", mutex, CoMutex::new());
}

/// Takes `mutex`. If another coroutine holds it, the caller yields and
/// sleeps until the mutex is handed to it; waiters get it in the order they
/// arrived, whichever thread they run on.
#[no_mangle]
pub extern "C" fn qemu_co_mutex_lock(mutex: *mut CoMutex) {
    deref("qemu_co_mutex_lock", "mutex", mutex).lock();
}

/// Releases `mutex`. If coroutines wait for it, the oldest now owns it and
/// runs after the caller next yields or terminates (or, on another thread,
/// from that thread's event loop). Aborts if the mutex is not locked, if
/// the calling coroutine does not hold it, and outside coroutine context.
#[no_mangle]
pub extern "C" fn qemu_co_mutex_unlock(mutex: *mut CoMutex) {
    deref("qemu_co_mutex_unlock", "mutex", mutex).unlock();
}

/// Aborts unless the calling coroutine holds `mutex`.
#[no_mangle]
pub extern "C" fn qemu_co_mutex_assert_locked(mutex: *mut CoMutex) {
    deref("qemu_co_mutex_assert_locked", "mutex", mutex).assert_locked();
}
