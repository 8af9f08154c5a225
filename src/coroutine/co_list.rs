//! An intrusive FIFO of coroutines linked through `Coroutine::queue_next`.
//!
//! It is the wake-up queue each coroutine carries (coroutines to run when it
//! next yields or terminates), the pending list of an enter, and the body of
//! a `CoQueue`. A coroutine is on at most one such list at a time: it is
//! either waiting in a queue or scheduled to be woken, never both.

use std::cell::Cell;
use std::ptr;

use crate::coroutine::Coroutine;

/// Head and tail of a singly linked list; empty when `head` is null.
#[repr(C)]
pub struct CoList {
    head: Cell<*const Coroutine>,
    tail: Cell<*const Coroutine>,
}

impl CoList {
    pub const fn new() -> CoList {
        CoList { head: Cell::new(ptr::null()), tail: Cell::new(ptr::null()) }
    }

    pub fn is_empty(&self) -> bool {
        self.head.get().is_null()
    }

    pub fn first(&self) -> *const Coroutine {
        self.head.get()
    }

    /// Appends `co`, which must not be on any list.
    pub fn push_back(&self, co: &Coroutine) {
        co.queue_next.set(ptr::null());
        match self.tail_ref() {
            Some(tail) => tail.queue_next.set(co),
            None => self.head.set(co),
        }
        self.tail.set(co);
    }

    /// Puts `co`, which must not be on any list, in front.
    pub fn push_front(&self, co: &Coroutine) {
        co.queue_next.set(self.head.get());
        if self.is_empty() {
            self.tail.set(co);
        }
        self.head.set(co);
    }

    pub fn pop_front(&self) -> Option<&Coroutine> {
        // SAFETY: only live coroutines are ever linked (see push_*); a
        // coroutine is not freed while it is on a list.
        let first = unsafe { self.head.get().as_ref()? };
        self.head.set(first.queue_next.get());
        if self.head.get().is_null() {
            self.tail.set(ptr::null());
        }
        first.queue_next.set(ptr::null());
        Some(first)
    }

    /// Moves every element of `other` in front of this list's elements,
    /// keeping their order; `other` ends empty.
    pub fn prepend(&self, other: &CoList) {
        let Some(other_tail) = other.tail_ref() else { return };
        other_tail.queue_next.set(self.head.get());
        if self.is_empty() {
            self.tail.set(other.tail.get());
        }
        self.head.set(other.head.get());
        other.head.set(ptr::null());
        other.tail.set(ptr::null());
    }

    fn tail_ref(&self) -> Option<&Coroutine> {
        // SAFETY: as in pop_front, linked coroutines are live.
        unsafe { self.tail.get().as_ref() }
    }
}

impl Default for CoList {
    fn default() -> Self {
        CoList::new()
    }
}
