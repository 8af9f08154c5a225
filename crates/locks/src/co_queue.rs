//! `CoQueue`: coroutines waiting for a condition (QEMU's `qemu_co_queue_*`),
//! a condition variable whose mutex is any `QemuLockable`.
//!
//! The queue itself has no lock: as in QEMU, the caller's lock (or running
//! on a single thread) protects it. A woken coroutine is handed to
//! `coroutine::wake`, so from inside a coroutine it runs right after the
//! waker next yields or terminates, and from outside one it runs before the
//! wake returns.

use std::ffi::c_uint;

use crate::lockable::QemuLockable;
use qemucoro_coroutine as coroutine;
use qemucoro_coroutine::current;
use qemucoro_coroutine::wait::WAIT_QUEUE;
use qemucoro_coroutine::Coroutine;
use qemucoro_util::abort::die;
use qemucoro_util::list::List;

/// Flags for `qemu_co_queue_wait_flags`.
pub type CoQueueWaitFlags = c_uint;

/// Wait at the front of the queue instead of the back: for re-queueing a
/// request whose condition still does not hold after it was woken.
pub const CO_QUEUE_WAIT_FRONT: CoQueueWaitFlags = 0x1;

/// A queue of coroutines waiting to be woken, oldest first. Embed it by
/// value and initialise it with `qemu_co_queue_init` (all-zero is empty).
#[repr(C)]
pub struct CoQueue {
    entries: List<Coroutine>,
}

const _: () = assert!(size_of::<CoQueue>() == 2 * size_of::<usize>());
const _: () = assert!(align_of::<CoQueue>() == align_of::<usize>());

impl CoQueue {
    pub const fn new() -> CoQueue {
        CoQueue {
            entries: List::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Queues the running coroutine, releases `lock` while it sleeps and
    /// takes it again once woken.
    pub fn wait(&self, lock: Option<&QemuLockable>, flags: CoQueueWaitFlags) {
        let me = current::running();
        if !me.is_entered() {
            die(format_args!(
                "qemu_co_queue_wait: called outside coroutine context"
            ));
        }
        let lock_ptr = lock.map_or(0, |l| std::ptr::from_ref(l) as usize);
        me.wait
            .begin(WAIT_QUEUE, std::ptr::from_ref(self).cast(), lock_ptr);
        if flags & CO_QUEUE_WAIT_FRONT != 0 {
            self.entries.push_front(me);
        } else {
            self.entries.push_back(me);
        }
        if let Some(lock) = lock {
            lock.unlock();
        }
        // A waker on another thread schedules us in our AioContext, which
        // cannot run us before this yield returns control to it.
        coroutine::yield_now();
        me.wait.end();
        if let Some(lock) = lock {
            lock.lock();
        }
    }

    /// Wakes the oldest waiter, releasing `lock` around the wake-up so
    /// that a waiter entered at once can take it; false if none waits.
    pub fn enter_next(&self, lock: Option<&QemuLockable>) -> bool {
        let Some(next) = self.entries.pop_front() else {
            return false;
        };
        if let Some(lock) = lock {
            lock.unlock();
        }
        coroutine::wake(next);
        if let Some(lock) = lock {
            lock.lock();
        }
        true
    }

    /// Wakes every waiter, oldest first.
    pub fn enter_all(&self, lock: Option<&QemuLockable>) {
        while self.enter_next(lock) {}
    }
}

impl Default for CoQueue {
    fn default() -> Self {
        CoQueue::new()
    }
}
