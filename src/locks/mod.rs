//! Locks and queues for coroutines: CoQueue, CoMutex, CoRwlock and the
//! `QemuLockable` a queue waits with. They sit on the coroutine core and
//! wake sleepers through `coroutine::wake`, never naming the event loop.

pub(crate) mod co_mutex;
pub(crate) mod co_queue;
pub(crate) mod co_rwlock;
pub(crate) mod lockable;
