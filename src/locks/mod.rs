//! Locks and queues for coroutines: CoQueue, CoMutex, CoRwlock and the
//! `QemuLockable` a queue waits with. They sit on the coroutine core and
//! wake sleepers through `coroutine::wake`, never naming the event loop.

pub mod co_mutex;
pub mod co_queue;
pub mod co_rwlock;
pub mod lockable;
