//! `CoRwlock`: a fair reader-writer lock for coroutines (QEMU's
//! `qemu_co_rwlock_*`).
//!
//! `owners` counts the readers holding the lock, or is -1 while a writer
//! holds it. A coroutine that cannot take the lock at once queues a ticket
//! (on its own stack, saying whether it wants to read or write) and sleeps.
//! Fairness is QEMU's: once a ticket is queued, later readers queue behind
//! it instead of joining the current readers, and an upgrading reader
//! queues too when it is not the sole reader or a ticket is already waiting.
//!
//! Whoever changes `owners` then looks at the oldest ticket: a reader may go
//! whenever no writer holds the lock, a writer only when nobody does. The
//! waker grants the lock (updates `owners`) before waking the ticket's
//! coroutine, so nobody can sneak in between. A woken reader looks again,
//! which lets a run of queued readers in one after the other.
//!
//! A spinlock guards the fields (QEMU uses an inner CoMutex); it is never
//! held across a switch or a wake-up.

use std::cell::{Cell, UnsafeCell};
use std::ffi::{c_int, c_uint, c_void};
use std::ptr;
use std::sync::atomic::AtomicU32;

use qemucoro_coroutine::current;
use qemucoro_coroutine::wait::{WAIT_RDLOCK, WAIT_WRLOCK};
use qemucoro_coroutine::{self as coroutine, Coroutine};
use qemucoro_util::abort::die;
use qemucoro_util::atomic_view;
use qemucoro_util::list::{Linked, List};
use qemucoro_util::spin::{self, SpinGuard};

/// `owners` while a writer holds the lock.
const WRITER: c_int = -1;

/// A coroutine waiting for a `CoRwlock`; it lives on that coroutine's stack
/// while it sleeps.
pub struct CoRwTicket {
    read: bool,
    co: *const Coroutine,
    next: Cell<*const CoRwTicket>,
}

impl Linked for CoRwTicket {
    fn next(&self) -> &Cell<*const CoRwTicket> {
        &self.next
    }
}

/// A reader-writer lock for coroutines: many readers or one writer, in
/// arrival order once anyone waits. Embed it by value and initialise it
/// with `qemu_co_rwlock_init` (all-zero is unlocked).
#[repr(C)]
pub struct CoRwlock {
    /// Spinlock over the fields below.
    wait_lock: UnsafeCell<c_uint>,
    /// Readers holding the lock, or -1 while a writer holds it.
    owners: Cell<c_int>,
    /// Waiting coroutines, oldest first.
    tickets: List<CoRwTicket>,
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<CoRwlock>() == 24 && align_of::<CoRwlock>() == 8);

/// For gdb (the crate's lib.rs): where the count of owners is.
pub const OWNERS_OFFSET: usize = std::mem::offset_of!(CoRwlock, owners);

impl CoRwlock {
    pub const fn new() -> CoRwlock {
        CoRwlock {
            wait_lock: UnsafeCell::new(0),
            owners: Cell::new(0),
            tickets: List::new(),
        }
    }

    /// Takes the lock for reading; waits while a writer holds it or any
    /// coroutine is already waiting.
    pub fn rdlock(&self) {
        let me = current::running();
        let guard = self.guard();
        let owners = self.owners.get();
        if owners == 0 || (owners > 0 && self.no_tickets()) {
            self.owners.set(owners + 1);
            drop(guard);
        } else {
            self.sleep(guard, me, true);
            // Granted: let the next queued reader in too, if it may go.
            self.wake_next(self.guard());
        }
        me.locks_held.set(me.locks_held.get() + 1);
        me.wait.hold(self.as_ptr());
    }

    /// Takes the lock for writing; waits while anyone holds it.
    pub fn wrlock(&self) {
        let me = current::running();
        let guard = self.guard();
        if self.owners.get() == 0 {
            self.owners.set(WRITER);
            drop(guard);
        } else {
            self.sleep(guard, me, false);
        }
        me.locks_held.set(me.locks_held.get() + 1);
        me.wait.hold(self.as_ptr());
    }

    /// Releases a read or write hold and lets the next waiter in.
    pub fn unlock(&self) {
        let me = current::running();
        if !me.is_entered() {
            die(format_args!(
                "qemu_co_rwlock_unlock: called outside coroutine context"
            ));
        }
        let guard = self.guard();
        match self.owners.get() {
            0 => die(format_args!("qemu_co_rwlock_unlock: the lock is not held")),
            WRITER => self.owners.set(0),
            readers => self.owners.set(readers - 1),
        }
        let held = me.locks_held.get();
        if held == 0 {
            die(format_args!(
                "qemu_co_rwlock_unlock: the calling coroutine holds no lock"
            ));
        }
        me.locks_held.set(held - 1);
        me.wait.release(self.as_ptr());
        self.wake_next(guard);
    }

    /// Turns the caller's read hold into a write hold. Waits (and lets a
    /// queued writer go first) unless the caller is the sole reader and
    /// nobody is queued.
    pub fn upgrade(&self) {
        let me = current::running();
        let guard = self.guard();
        let owners = self.owners.get();
        if owners <= 0 {
            die(format_args!(
                "qemu_co_rwlock_upgrade: the lock is not held for reading"
            ));
        }
        if owners == 1 && self.no_tickets() {
            self.owners.set(WRITER);
            return;
        }
        self.owners.set(owners - 1);
        // While it waits it holds nothing: it gave up its read hold.
        me.wait.release(self.as_ptr());
        me.wait.begin(WAIT_WRLOCK, self.as_ptr(), 0);
        let ticket = CoRwTicket::new(me, false);
        self.tickets.push_back(&ticket);
        self.wake_next(guard);
        coroutine::yield_now();
        me.wait.end();
        me.wait.hold(self.as_ptr());
    }

    /// Turns the caller's write hold into a read hold, letting queued
    /// readers in with it. Never waits.
    pub fn downgrade(&self) {
        let guard = self.guard();
        if self.owners.get() != WRITER {
            die(format_args!(
                "qemu_co_rwlock_downgrade: the lock is not held for writing"
            ));
        }
        self.owners.set(1);
        self.wake_next(guard);
    }

    /// Queues a ticket for `me`, drops the spinlock and sleeps until a
    /// waker has granted us the lock.
    fn sleep(&self, guard: SpinGuard<'_>, me: &Coroutine, read: bool) {
        if !me.is_entered() {
            die(format_args!(
                "qemu_co_rwlock_{}: the lock is held and the caller is not a coroutine",
                if read { "rdlock" } else { "wrlock" }
            ));
        }
        let kind = if read { WAIT_RDLOCK } else { WAIT_WRLOCK };
        me.wait.begin(kind, self.as_ptr(), 0);
        let ticket = CoRwTicket::new(me, read);
        self.tickets.push_back(&ticket);
        drop(guard);
        // A waker on another thread schedules us in our AioContext, which
        // cannot run us before we have yielded to it; `ticket` stays on our
        // stack until then, and is off the queue by the time we return.
        coroutine::yield_now();
        me.wait.end();
    }

    /// Grants the lock to the oldest ticket if it may go now, then drops
    /// the spinlock and wakes that ticket's coroutine.
    fn wake_next(&self, guard: SpinGuard<'_>) {
        let Some(ticket) = self.tickets.first() else {
            return;
        };
        let owners = self.owners.get();
        if ticket.read && owners >= 0 {
            self.owners.set(owners + 1);
        } else if !ticket.read && owners == 0 {
            self.owners.set(WRITER);
        } else {
            return;
        }
        let co = ticket.co;
        self.tickets.pop_front();
        drop(guard);
        // SAFETY: a queued ticket's coroutine is sleeping, hence live.
        coroutine::wake(unsafe { &*co });
    }

    fn as_ptr(&self) -> *const c_void {
        ptr::from_ref(self).cast()
    }

    /// For the hang dump, from any thread: readers holding the lock, or -1
    /// while a writer does. A racy snapshot, read as one aligned word.
    pub fn owners_snapshot(&self) -> c_int {
        // SAFETY: `owners` is an aligned c_int that lives as long as the
        // lock; the dump reads it as an atomic, racing only with writers
        // that store whole words.
        unsafe { std::sync::atomic::AtomicI32::from_ptr(self.owners.as_ptr()) }
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn guard(&self) -> SpinGuard<'_> {
        spin::lock(self.wait_lock())
    }

    fn wait_lock(&self) -> &AtomicU32 {
        atomic_view::uint(&self.wait_lock)
    }

    fn no_tickets(&self) -> bool {
        self.tickets.is_empty()
    }
}

impl CoRwTicket {
    fn new(co: &Coroutine, read: bool) -> CoRwTicket {
        CoRwTicket {
            read,
            co,
            next: Cell::new(ptr::null()),
        }
    }
}

impl Default for CoRwlock {
    fn default() -> Self {
        CoRwlock::new()
    }
}
