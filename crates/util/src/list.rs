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

/// Head and tail of a singly linked list; empty when `head` is null.
#[repr(C)]
pub struct List<T> {
    head: Cell<*const T>,
    tail: Cell<*const T>,
}

impl<T: Linked> Default for List<T> {
    fn default() -> List<T> {
        List::new()
    }
}

impl<T: Linked> List<T> {
    pub const fn new() -> List<T> {
        List {
            head: Cell::new(ptr::null()),
            tail: Cell::new(ptr::null()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.head.get().is_null()
    }

    pub fn first(&self) -> Option<&T> {
        // SAFETY: items are live while linked (module doc).
        unsafe { self.head.get().as_ref() }
    }

    /// Appends `item`, which must not be on any list.
    pub fn push_back(&self, item: &T) {
        item.next().set(ptr::null());
        match self.tail_ref() {
            Some(tail) => tail.next().set(item),
            None => self.head.set(item),
        }
        self.tail.set(item);
    }

    /// Puts `item`, which must not be on any list, in front.
    pub fn push_front(&self, item: &T) {
        item.next().set(self.head.get());
        if self.is_empty() {
            self.tail.set(item);
        }
        self.head.set(item);
    }

    pub fn pop_front(&self) -> Option<&T> {
        let first = self.first()?;
        self.head.set(first.next().get());
        if self.head.get().is_null() {
            self.tail.set(ptr::null());
        }
        first.next().set(ptr::null());
        Some(first)
    }

    /// Moves every element of `other` in front of this list's elements,
    /// keeping their order; `other` ends empty.
    pub fn prepend(&self, other: &List<T>) {
        let Some(other_tail) = other.tail_ref() else {
            return;
        };
        other_tail.next().set(self.head.get());
        if self.is_empty() {
            self.tail.set(other.tail.get());
        }
        self.head.set(other.head.get());
        other.head.set(ptr::null());
        other.tail.set(ptr::null());
    }

    fn tail_ref(&self) -> Option<&T> {
        // SAFETY: as in `first`, linked items are live.
        unsafe { self.tail.get().as_ref() }
    }
}
