//! Every coroutine `qemu_coroutine_new` made and `qemu_coroutine_delete` has
//! not yet freed, for gdb: QEMU keeps no list of its coroutines, so without
//! this a hung QEMU's `qemu coroutines` / `qemu deadlocks`
//! (gdb/qemucoro_qemu.py) could not find the suspended ones.
//!
//! An intrusive doubly linked list from `qemucoro_qemu_registry`, changed
//! under one lock taken only on create and delete, never on a switch. gdb
//! reads it from memory only (live or in a core), so a walk may race a
//! create or delete in another thread; the script stops on a loop.

use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use qemucoro_util::mutex::Mutex;

/// The two links a registered object carries. Read and written only with
/// `LOCK` held.
pub(super) struct Links<T> {
    pub(super) next: Cell<*mut T>,
    pub(super) prev: Cell<*mut T>,
}

impl<T> Links<T> {
    pub(super) const fn new() -> Links<T> {
        Links {
            next: Cell::new(ptr::null_mut()),
            prev: Cell::new(ptr::null_mut()),
        }
    }
}

/// An object that can sit on the list.
pub(super) trait Linked: Sized {
    fn links(&self) -> &Links<Self>;
}

static LOCK: Mutex<()> = Mutex::new(());

/// The newest live object, or null. An atomic only so that its symbol is a
/// plain word gdb can read; every access is under `LOCK`.
pub(super) struct Head<T>(AtomicPtr<T>);

impl<T: Linked> Head<T> {
    pub(super) const fn new() -> Head<T> {
        Head(AtomicPtr::new(ptr::null_mut()))
    }

    /// Puts `obj` first on the list.
    ///
    /// # Safety
    /// `obj` is live, not on the list, and stays live until `remove`.
    pub(super) unsafe fn insert(&self, obj: *mut T) {
        let _held = LOCK.lock();
        let first = self.0.load(Ordering::Relaxed);
        // SAFETY: `obj` is live per the contract; `first`, if any, is on the
        // list, hence live; the links are only touched under LOCK.
        unsafe {
            (*obj).links().next.set(first);
            (*obj).links().prev.set(ptr::null_mut());
            if !first.is_null() {
                (*first).links().prev.set(obj);
            }
        }
        self.0.store(obj, Ordering::Relaxed);
    }

    /// Takes `obj` off the list.
    ///
    /// # Safety
    /// `obj` is live and on this list.
    pub(super) unsafe fn remove(&self, obj: *mut T) {
        let _held = LOCK.lock();
        // SAFETY: `obj` and its neighbours are on the list, hence live; the
        // links are only touched under LOCK.
        unsafe {
            let (next, prev) = ((*obj).links().next.get(), (*obj).links().prev.get());
            if prev.is_null() {
                self.0.store(next, Ordering::Relaxed);
            } else {
                (*prev).links().next.set(next);
            }
            if !next.is_null() {
                (*next).links().prev.set(prev);
            }
        }
    }
}
