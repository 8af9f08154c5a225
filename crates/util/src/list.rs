//! The one intrusive list: a FIFO of items linked through a `Cell` each
//! item carries, so that queueing never allocates.
//!
//! It is the wake-up queue each coroutine carries (coroutines to run when
//! it next yields or terminates), the pending list of an enter, the body of
//! a `CoQueue` and of `CoMutex`'s waiters (`List<Coroutine>`, linked through
//! `Coroutine::queue_next`), and `CoRwlock`'s queue of tickets. An item is
//! on at most one list at a time, and stays live while it is on one: every
//! user keeps that promise (a coroutine is not freed while queued; a ticket
//! lives on its sleeping coroutine's stack until a waker pops it).

use std::cell::Cell;
use std::ptr;

/// An item that can be on a `List`: `next` is its link.
pub trait Linked {
    fn next(&self) -> &Cell<*const Self>;
}

/// Head of a singly linked FIFO, laid out as QEMU's `QSIMPLEQ_HEAD`: the
/// first item, and where the last item's link is (`&first` when empty), so
/// that C code built against QEMU's headers may append to a coroutine's
/// wake-up queue with `QSIMPLEQ_INSERT_TAIL` (util/async.c does).
///
/// Only `first` says whether the list is empty: `last` is not read then,
/// so an empty list may be moved or made by `new` (null `last`), and C sees
/// `&first` again once the list was emptied in place (`reset`).
#[repr(C)]
pub struct List<T> {
    first: Cell<*const T>,
    last: Cell<*const Cell<*const T>>,
}

impl<T: Linked> Default for List<T> {
    fn default() -> List<T> {
        List::new()
    }
}

impl<T: Linked> List<T> {
    pub const fn new() -> List<T> {
        List {
            first: Cell::new(ptr::null()),
            last: Cell::new(ptr::null()),
        }
    }

    /// Empties the list where it lies, with `last` at `first` as QEMU's
    /// `QSIMPLEQ_INIT` leaves it.
    pub fn reset(&self) {
        self.first.set(ptr::null());
        self.last.set(&self.first);
    }

    pub fn is_empty(&self) -> bool {
        self.first.get().is_null()
    }

    pub fn first(&self) -> Option<&T> {
        // SAFETY: items are live while linked (module doc).
        unsafe { self.first.get().as_ref() }
    }

    /// Appends `item`, which must not be on any list.
    pub fn push_back(&self, item: &T) {
        item.next().set(ptr::null());
        self.last_link().set(item);
        self.last.set(item.next());
    }

    /// Puts `item`, which must not be on any list, in front.
    pub fn push_front(&self, item: &T) {
        if self.is_empty() {
            return self.push_back(item);
        }
        item.next().set(self.first.get());
        self.first.set(item);
    }

    pub fn pop_front(&self) -> Option<&T> {
        let first = self.first()?;
        self.first.set(first.next().get());
        if self.is_empty() {
            self.reset();
        }
        first.next().set(ptr::null());
        Some(first)
    }

    /// Moves every element of `other` in front of this list's elements,
    /// keeping their order; `other` ends empty.
    pub fn prepend(&self, other: &List<T>) {
        if other.is_empty() {
            return;
        }
        let other_last = other.last_link();
        other_last.set(self.first.get());
        if self.is_empty() {
            self.last.set(other_last);
        }
        self.first.set(other.first.get());
        other.reset();
    }

    /// The link the next `push_back` writes: the last item's, or `first`.
    fn last_link(&self) -> &Cell<*const T> {
        if self.is_empty() {
            return &self.first;
        }
        // SAFETY: a non-empty list's `last` is the link of its last item,
        // which is live while linked (module doc).
        unsafe { &*self.last.get() }
    }
}
