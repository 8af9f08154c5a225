//! A tiny spinlock over a C-visible word, guarding the waiter lists inside
//! `CoMutex` and `CoRwlock`.
//!
//! It protects a few pointer updates and is never held across a coroutine
//! switch or a wake-up, so a waiter spins for nanoseconds, not for a
//! critical section. That is why a spinlock, not a futex, is the right tool:
//! the lock word lives in the embedded C struct, needs no initialisation
//! beyond zero, and never costs a system call unless the holder's thread is
//! preempted mid-update (then we yield the CPU rather than burn it).

use std::hint;
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;

use crate::sanitizer;

/// Spins before giving the CPU away to a (presumably preempted) holder.
const SPINS_BEFORE_YIELD: u32 = 128;

/// Holds the spinlock until dropped.
pub struct SpinGuard<'a> {
    word: &'a AtomicU32,
}

/// Takes the spinlock whose state is `word` (0 free, 1 held).
pub fn lock(word: &AtomicU32) -> SpinGuard<'_> {
    while word
        .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        wait_until_free(word);
    }
    // TSan builds: pairs with the `release` of the last unlock (the atomics
    // here are invisible to TSan).
    sanitizer::acquire(ptr::from_ref(word).cast());
    SpinGuard { word }
}

#[cold]
fn wait_until_free(word: &AtomicU32) {
    let mut spins = 0;
    while word.load(Ordering::Relaxed) != 0 {
        spins += 1;
        if spins % SPINS_BEFORE_YIELD == 0 {
            thread::yield_now();
        } else {
            hint::spin_loop();
        }
    }
}

impl Drop for SpinGuard<'_> {
    fn drop(&mut self) {
        sanitizer::release(ptr::from_ref(self.word).cast());
        self.word.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::UnsafeCell;
    use std::sync::Arc;

    struct Shared {
        word: AtomicU32,
        count: UnsafeCell<u64>,
    }
    // SAFETY: `count` is only touched with the spinlock `word` held.
    unsafe impl Sync for Shared {}

    #[test]
    fn excludes_other_threads() {
        let shared = Arc::new(Shared {
            word: AtomicU32::new(0),
            count: UnsafeCell::new(0),
        });
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = Arc::clone(&shared);
                thread::spawn(move || {
                    for _ in 0..10_000 {
                        let _g = lock(&s.word);
                        // SAFETY: the guard gives exclusive access to count.
                        unsafe { *s.count.get() += 1 };
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(shared.word.load(Ordering::Relaxed), 0);
        // SAFETY: every other thread has been joined.
        assert_eq!(unsafe { *shared.count.get() }, 40_000);
    }
}
