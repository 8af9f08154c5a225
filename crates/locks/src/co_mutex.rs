//! `CoMutex`: a fair mutex for coroutines (QEMU's `qemu_co_mutex_*`), correct
//! when coroutines on different threads contend for it.
//!
//! Our design, simpler than QEMU's lock-free hand-off protocol:
//!
//!   locked   how many lockers there are: the holder plus every coroutine
//!            waiting or about to wait; 0 when free. Taking a free mutex is
//!            one compare-and-swap 0 -> 1, releasing an uncontended one is
//!            one fetch_sub that finds 1: no system call, no allocation.
//!   waiters  sleeping lockers, oldest first, under the `wait_lock` spinlock
//!            (held for a few pointer updates, never across a switch).
//!   handoff  set by an unlock that found `locked` > 1 but nobody queued
//!            yet: the locker still on its way to the queue takes the mutex
//!            there instead of sleeping.
//!
//!   lock, mutex held                 unlock, locked was > 1
//!   ----------------                 ----------------------
//!   locked += 1                      locked -= 1 (stays > 0)
//!   take wait_lock                   take wait_lock
//!   handoff set? clear it: we own    pop the oldest waiter W,
//!   else queue ourselves             or set handoff if none yet
//!   drop wait_lock, yield            drop wait_lock, wake(W)
//!   (woken = owner)                  (W owns the mutex now)
//!
//! While anyone waits, `locked` never returns to 0, so ownership passes
//! straight from the unlocker to the oldest waiter and a newcomer cannot
//! barge in ahead of it: the mutex is FIFO-fair.

use std::cell::{Cell, UnsafeCell};
use std::ffi::{c_uint, c_void};
use std::hint;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use qemucoro_coroutine::current;
use qemucoro_coroutine::trace::{self, MutexEvent};
use qemucoro_coroutine::wait::WAIT_MUTEX;
use qemucoro_coroutine::{self as coroutine, Coroutine};
use qemucoro_util::abort::die;
use qemucoro_util::atomic_view;
use qemucoro_util::list::List;
use qemucoro_util::sanitizer;
use qemucoro_util::spin;

/// How long a locker spins (as QEMU does) for a holder running on another
/// thread before it queues and sleeps: critical sections are usually shorter
/// than a sleep and a cross-thread wake-up.
const SPIN_LIMIT: u32 = 1000;

/// A mutex for coroutines: a coroutine that finds it held sleeps until the
/// holder hands it over, in the order the waiters arrived. Embed it by value
/// and initialise it with `qemu_co_mutex_init` (all-zero is unlocked).
///
/// `locked` and `holder` sit where QEMU's `CoMutex` has them, because
/// QEMU's header reads both inline (`qemu_co_mutex_assert_locked`) and a
/// QEMU build can run on these locks; the size is QEMU's too.
#[repr(C)]
pub struct CoMutex {
    /// Lockers: the holder plus coroutines waiting or about to; 0 when free.
    locked: UnsafeCell<c_uint>,
    /// Spinlock over `handoff` and `waiters`.
    wait_lock: UnsafeCell<c_uint>,
    /// The AioContext the holder runs in, so that lockers elsewhere know
    /// spinning may pay off.
    ctx: UnsafeCell<*mut c_void>,
    /// Coroutines sleeping in `qemu_co_mutex_lock`, oldest first.
    waiters: List<Coroutine>,
    /// 1 when an unlock passed the mutex to a locker not queued yet.
    handoff: Cell<c_uint>,
    /// The coroutine holding the mutex; NULL while free or being handed over.
    holder: UnsafeCell<*mut Coroutine>,
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<CoMutex>() == 48 && align_of::<CoMutex>() == 8);
#[cfg(target_pointer_width = "64")]
const _: () = assert!(HOLDER_OFFSET == 40 && LOCKED_OFFSET == 0);

/// For gdb (the crate's lib.rs): where the count and the holder are.
pub const LOCKED_OFFSET: usize = std::mem::offset_of!(CoMutex, locked);
pub const HOLDER_OFFSET: usize = std::mem::offset_of!(CoMutex, holder);

impl CoMutex {
    pub const fn new() -> CoMutex {
        CoMutex {
            locked: UnsafeCell::new(0),
            wait_lock: UnsafeCell::new(0),
            ctx: UnsafeCell::new(ptr::null_mut()),
            waiters: List::new(),
            handoff: Cell::new(0),
            holder: UnsafeCell::new(ptr::null_mut()),
        }
    }

    /// Takes the mutex, sleeping (yielding) while another coroutine has it.
    pub fn lock(&self) {
        let me = current::running();
        if self
            .locked()
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended(me);
        } else {
            trace::mutex(MutexEvent::LockUncontended, self, me);
        }
        // TSan builds: whichever way we got the mutex (free, spun for,
        // handed over, woken), the last unlock's `release` came first.
        sanitizer::acquire(ptr::from_ref(self).cast());
        self.ctx()
            .store(me.ctx.load(Ordering::Relaxed), Ordering::Relaxed);
        self.holder()
            .store(ptr::from_ref(me).cast_mut(), Ordering::Relaxed);
        me.locks_held.set(me.locks_held.get() + 1);
    }

    /// Releases the mutex, handing it to the oldest waiter, which runs when
    /// the caller next yields (or, on another thread, when its event loop
    /// gets to it).
    pub fn unlock(&self) {
        let me = current::running();
        trace::mutex(MutexEvent::UnlockEntry, self, me);
        if self.locked().load(Ordering::Relaxed) == 0 {
            die(format_args!(
                "qemu_co_mutex_unlock: the mutex is not locked"
            ));
        }
        if !self.is_held_by(me) {
            die(format_args!(
                "qemu_co_mutex_unlock: the mutex is held by another coroutine"
            ));
        }
        if !me.is_entered() {
            die(format_args!(
                "qemu_co_mutex_unlock: called outside coroutine context"
            ));
        }
        self.ctx().store(ptr::null_mut(), Ordering::Relaxed);
        self.holder().store(ptr::null_mut(), Ordering::Relaxed);
        me.locks_held.set(me.locks_held.get() - 1);
        // Pairs with the `acquire` at the end of `lock`.
        sanitizer::release(ptr::from_ref(self).cast());
        // As in QEMU, only an unlock that hands over traces its return.
        if self.locked().fetch_sub(1, Ordering::Release) != 1 {
            self.hand_over();
            trace::mutex(MutexEvent::UnlockReturn, self, me);
        }
    }

    /// Aborts unless the running coroutine holds the mutex.
    pub fn assert_locked(&self) {
        let me = current::running();
        if self.locked().load(Ordering::Relaxed) == 0 || !self.is_held_by(me) {
            die(format_args!(
                "qemu_co_mutex_assert_locked: the mutex is not held by the calling coroutine"
            ));
        }
    }

    fn is_held_by(&self, co: &Coroutine) -> bool {
        ptr::eq(self.holder().load(Ordering::Relaxed), co)
    }

    #[cold]
    fn lock_contended(&self, me: &Coroutine) {
        if self.spin_for_remote_holder(me) || self.locked().fetch_add(1, Ordering::Acquire) == 0 {
            trace::mutex(MutexEvent::LockUncontended, self, me);
            return;
        }
        trace::mutex(MutexEvent::LockEntry, self, me);
        // Recorded before we are queued, so that a waker's record (the
        // schedule) comes after ours.
        me.wait.begin(WAIT_MUTEX, ptr::from_ref(self).cast(), 0);
        {
            let _guard = spin::lock(self.wait_lock());
            if self.handoff.get() != 0 {
                self.handoff.set(0);
                me.wait.end();
                return;
            }
            if !me.is_entered() {
                die(format_args!(
                    "qemu_co_mutex_lock: the mutex is held and the caller is not a coroutine"
                ));
            }
            self.waiters.push_back(me);
        }
        // An unlocker on another thread may pop and wake us before this
        // yield; the wake-up is scheduled in our AioContext, which cannot
        // run us until we have yielded to it.
        coroutine::yield_now();
        trace::mutex(MutexEvent::LockReturn, self, me);
    }

    /// Spins while the only locker is a holder in another AioContext; true
    /// if the mutex came free and we took it.
    fn spin_for_remote_holder(&self, me: &Coroutine) -> bool {
        let my_ctx = me.ctx.load(Ordering::Relaxed);
        for _ in 0..SPIN_LIMIT {
            match self.locked().load(Ordering::Relaxed) {
                0 => {
                    let took =
                        self.locked()
                            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed);
                    if took.is_ok() {
                        return true;
                    }
                }
                // A holder on our own thread cannot run while we spin.
                1 if self.ctx().load(Ordering::Relaxed) != my_ctx => hint::spin_loop(),
                _ => return false,
            }
        }
        false
    }

    #[cold]
    fn hand_over(&self) {
        let next = {
            let _guard = spin::lock(self.wait_lock());
            let next = self.waiters.pop_front();
            if next.is_none() {
                self.handoff.set(1);
            }
            next
        };
        if let Some(next) = next {
            coroutine::wake(next);
        }
    }

    /// For the hang dump, from any thread: how many lockers there are and
    /// the holder (null while free or being handed over).
    pub fn snapshot(&self) -> (u32, *const Coroutine) {
        (
            self.locked().load(Ordering::Relaxed),
            self.holder().load(Ordering::Relaxed),
        )
    }

    fn locked(&self) -> &AtomicU32 {
        atomic_view::uint(&self.locked)
    }

    fn wait_lock(&self) -> &AtomicU32 {
        atomic_view::uint(&self.wait_lock)
    }

    fn ctx(&self) -> &AtomicPtr<c_void> {
        atomic_view::ptr(&self.ctx)
    }

    fn holder(&self) -> &AtomicPtr<Coroutine> {
        atomic_view::ptr(&self.holder)
    }
}

impl Default for CoMutex {
    fn default() -> Self {
        CoMutex::new()
    }
}
