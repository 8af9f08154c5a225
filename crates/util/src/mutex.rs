//! The crate's general-purpose lock (pool, slab stacks, timers, fd
//! handlers): std's mutex, told to ThreadSanitizer.

use super::sanitizer::{acquire, release};

/// A `std::sync::Mutex` whose hand-offs TSan sees: std's lock is atomics
/// and futex system calls, invisible to TSan, so a guard `acquire`s the
/// mutex's address once locked and `release`s it before unlocking. In
/// other builds it is the std mutex and nothing more. Panics abort, so
/// poisoning never happens and `lock` returns the guard directly.
pub struct Mutex<T> {
    inner: std::sync::Mutex<T>,
}

/// Holds a `Mutex` until dropped.
pub struct MutexGuard<'a, T> {
    inner: std::sync::MutexGuard<'a, T>,
    addr: *const u8,
}

impl<T> Mutex<T> {
    pub const fn new(value: T) -> Mutex<T> {
        Mutex {
            inner: std::sync::Mutex::new(value),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, T> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let addr = std::ptr::from_ref(self).cast::<u8>();
        // Pairs with the `release` of the guard that last unlocked us.
        acquire(addr);
        MutexGuard { inner, addr }
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T> std::ops::Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.inner
    }
}

impl<T> std::ops::DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.inner
    }
}

impl<T> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // Runs before `inner` unlocks: the next locker's `acquire` sees it.
        release(self.addr);
    }
}

/// A condition variable for `Mutex`: std's, with the same TSan hand-off
/// as the guard's (the wait unlocks and relocks the mutex).
#[derive(Default)]
pub struct Condvar {
    inner: std::sync::Condvar,
}

impl Condvar {
    pub const fn new() -> Condvar {
        Condvar {
            inner: std::sync::Condvar::new(),
        }
    }

    /// Unlocks `guard`'s mutex until notified or until `timeout` has
    /// passed (None: no limit), then relocks it; true if it timed out.
    pub fn wait<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        timeout: Option<std::time::Duration>,
    ) -> (MutexGuard<'a, T>, bool) {
        let addr = guard.addr;
        let guard = std::mem::ManuallyDrop::new(guard);
        // What the guard's drop would do: the next locker sees our writes.
        release(addr);
        // SAFETY: `guard` is never dropped or used again, so its std guard
        // is moved out exactly once.
        let inner = unsafe { std::ptr::read(&guard.inner) };
        let (inner, timed_out) = match timeout {
            Some(t) => {
                let (g, r) = self
                    .inner
                    .wait_timeout(inner, t)
                    .unwrap_or_else(|e| e.into_inner());
                (g, r.timed_out())
            }
            None => (
                self.inner.wait(inner).unwrap_or_else(|e| e.into_inner()),
                false,
            ),
        };
        acquire(addr);
        (MutexGuard { inner, addr }, timed_out)
    }

    pub fn notify_one(&self) {
        self.inner.notify_one();
    }

    pub fn notify_all(&self) {
        self.inner.notify_all();
    }
}
