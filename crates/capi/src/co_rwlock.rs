//! C exports of `CoRwlock` (QEMU's `qemu_co_rwlock_*`).

use crate::{deref, init};
use qemucoro_locks::co_rwlock::CoRwlock;

/// Initialises `lock` as unlocked. Call it before any other operation on
/// the lock.
#[no_mangle]
pub extern "C" fn qemu_co_rwlock_init(lock: *mut CoRwlock) {
    init("qemu_co_rwlock_init", "lock", lock, CoRwlock::new());
}

/// Takes `lock` for reading, alongside other readers. The caller yields
/// and waits while a writer holds the lock, and also while any coroutine is
/// queued for it, so that a waiting writer is not starved by new readers.
#[no_mangle]
pub extern "C" fn qemu_co_rwlock_rdlock(lock: *mut CoRwlock) {
    deref("qemu_co_rwlock_rdlock", "lock", lock).rdlock();
}

/// Takes `lock` for writing. The caller yields and waits, in arrival
/// order, while any reader or writer holds it.
#[no_mangle]
pub extern "C" fn qemu_co_rwlock_wrlock(lock: *mut CoRwlock) {
    deref("qemu_co_rwlock_wrlock", "lock", lock).wrlock();
}

/// Turns the caller's read lock into a write lock, more cheaply than
/// unlock + wrlock. Unless the caller is the only reader and nobody is
/// queued, it gives up its read lock, queues behind earlier waiters and
/// yields: another writer may run before this returns. Aborts if the lock
/// is not held for reading.
#[no_mangle]
pub extern "C" fn qemu_co_rwlock_upgrade(lock: *mut CoRwlock) {
    deref("qemu_co_rwlock_upgrade", "lock", lock).upgrade();
}

/// Turns the caller's write lock into a read lock, admitting queued
/// readers next to it. Never yields (unlike unlock + rdlock). Aborts if the
/// lock is not held for writing.
#[no_mangle]
pub extern "C" fn qemu_co_rwlock_downgrade(lock: *mut CoRwlock) {
    deref("qemu_co_rwlock_downgrade", "lock", lock).downgrade();
}

/// Releases the caller's read or write lock and wakes the next waiter(s),
/// which run after the caller next yields or terminates. Aborts if the
/// lock is not held, and outside coroutine context.
#[no_mangle]
pub extern "C" fn qemu_co_rwlock_unlock(lock: *mut CoRwlock) {
    deref("qemu_co_rwlock_unlock", "lock", lock).unlock();
}
