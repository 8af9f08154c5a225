//! What a coroutine waits with: CoQueue, CoMutex, CoRwlock and the
//! `QemuLockable` a queue waits with, `QemuCoSleep`, and transfers on
//! non-blocking descriptors that yield when they would block. They sit on
//! the coroutine core and wake sleepers through `coroutine::wake`, never
//! naming the event loop, so our AioContext and QEMU's both run them.

pub mod co_io;
pub mod co_mutex;
pub mod co_queue;
pub mod co_rwlock;
pub mod co_sleep;
pub mod lockable;

/// Where gdb/qemucoro.py finds a lock's holder, in bytes from the start of
/// the lock (the locks are `repr(C)`, but the release build carries no
/// type information for them). `version` changes with a field's meaning.
#[repr(C)]
pub struct GdbLockLayout {
    version: usize,
    /// In `CoMutex`: a 32-bit count of lockers, 0 when free.
    mutex_locked: usize,
    /// In `CoMutex`: the holding coroutine, NULL while free or handed over.
    mutex_holder: usize,
    /// In `CoRwlock`: a 32-bit count of readers, -1 while a writer holds it.
    rwlock_owners: usize,
}

#[used]
#[export_name = "qemucoro_gdb_lock_layout"]
static GDB_LOCK_LAYOUT: GdbLockLayout = GdbLockLayout {
    version: 1,
    mutex_locked: co_mutex::LOCKED_OFFSET,
    mutex_holder: co_mutex::HOLDER_OFFSET,
    rwlock_owners: co_rwlock::OWNERS_OFFSET,
};
