//! A lock-free list that any thread pushes onto and the owning event loop
//! takes whole: the cross-thread queue for bottom halves and scheduled
//! coroutines (QEMU's QSLIST_INSERT_HEAD_ATOMIC / QSLIST_MOVE_ATOMIC).

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

use qemucoro_util::sanitizer;

/// An item that carries its own link for one `PushList`.
pub trait Linked: Sized {
    fn link(&self) -> &AtomicPtr<Self>;
}

pub struct PushList<T> {
    head: AtomicPtr<T>,
}

impl<T: Linked> PushList<T> {
    pub const fn new() -> PushList<T> {
        PushList {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Pushes `item`, which must stay live and on no other list until taken.
    /// Returns whether the list was empty, i.e. whether this push is the one
    /// that has to wake the owner.
    pub fn push(&self, item: &T) -> bool {
        let item_ptr = ptr::from_ref(item).cast_mut();
        // TSan builds: the hand-off below is invisible to TSan; `take_all`
        // acquires the item's address. Released before the item is shared,
        // so the taker cannot get there first.
        sanitizer::release(item_ptr.cast());
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            item.link().store(head, Ordering::Relaxed);
            // Release: whoever takes the item sees what we wrote before.
            match self.head.compare_exchange_weak(
                head,
                item_ptr,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return head.is_null(),
                Err(now) => head = now,
            }
        }
    }

    /// Whether nothing is queued. SeqCst: the event loop's side of the
    /// "may I sleep?" handshake (see `AioContext::poll`).
    pub fn is_empty(&self) -> bool {
        self.head.load(Ordering::SeqCst).is_null()
    }

    /// The newest queued item (null if none), left queued: for a walk by
    /// the owner while nobody can push (a context being destroyed).
    pub fn peek(&self) -> *mut T {
        self.head.load(Ordering::Acquire)
    }

    /// Takes every queued item as a chain through their links, newest
    /// first (null if none). The caller owns the chain; it must read an
    /// item's link before the item can be pushed again, and acquire each
    /// item for TSan (see `acquire`) before using it.
    pub fn take_chain(&self) -> *mut T {
        self.head.swap(ptr::null_mut(), Ordering::Acquire)
    }

    /// Takes every queued item, oldest first.
    pub fn take_all(&self) -> Drain<T> {
        let mut newest = self.head.swap(ptr::null_mut(), Ordering::Acquire);
        let mut oldest: *mut T = ptr::null_mut();
        // SAFETY: the items were pushed live and are ours now that the swap
        // unlinked them from the shared head.
        while let Some(item) = unsafe { newest.as_ref() } {
            // Pairs with the `release` in `push`.
            sanitizer::acquire(newest.cast());
            let next = item.link().load(Ordering::Relaxed);
            item.link().store(oldest, Ordering::Relaxed);
            oldest = newest;
            newest = next;
        }
        Drain { next: oldest }
    }
}

/// Tells TSan that a taker of `item` sees what its pusher wrote (pairs
/// with the `release` in `push`); for items taken with `take_chain`.
pub fn acquire<T>(item: *mut T) {
    sanitizer::acquire(item.cast());
}

/// The items of one `take_all`. Each item's link is read before the item is
/// handed out, so the item may be pushed again as soon as it is seen.
pub struct Drain<T> {
    next: *mut T,
}

impl<T: Linked> Iterator for Drain<T> {
    type Item = *mut T;

    fn next(&mut self) -> Option<*mut T> {
        let item = self.next;
        // SAFETY: as in take_all, drained items are live and ours.
        self.next = unsafe { item.as_ref()? }.link().load(Ordering::Relaxed);
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Item {
        id: u32,
        next: AtomicPtr<Item>,
    }

    impl Linked for Item {
        fn link(&self) -> &AtomicPtr<Item> {
            &self.next
        }
    }

    fn item(id: u32) -> Item {
        Item {
            id,
            next: AtomicPtr::new(ptr::null_mut()),
        }
    }

    #[test]
    fn only_the_first_push_reports_an_empty_list() {
        let (a, b) = (item(1), item(2));
        let list = PushList::new();
        assert!(list.push(&a));
        assert!(!list.push(&b));
        assert_eq!(list.take_all().count(), 2);
        assert!(list.is_empty());
    }

    #[test]
    fn take_all_hands_out_items_oldest_first() {
        let items: Vec<Item> = (0..5).map(item).collect();
        let list = PushList::new();
        for it in &items {
            list.push(it);
        }
        // SAFETY: the items outlive the drain.
        let ids: Vec<u32> = list.take_all().map(|p| unsafe { (*p).id }).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4]);
    }
}
