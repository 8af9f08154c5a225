//! Slab stacks: no guard page each, carved side by side from big mappings,
//! so that a million live coroutines need a few thousand kernel mappings
//! and creating one costs no system call.
//!
//! A slot is the usable stack plus one page (`stride`). Slots start 64
//! bytes short of a page boundary, so a slot's lowest 64 bytes (its canary
//! line) share a page with the top of the slot below it:
//!
//! ```text
//!            page          page          page              page
//!   | guard | ...  [c0 | stack 0 ... | top0][c1 | stack 1 ... | top1][c2 | ...
//!                   ^ canary of slot 0         ^ canary of slot 1: in the
//!                     (padding page)             page that holds top 0
//! ```
//!
//! A suspended coroutine's top frames and the canary of the slot above it
//! lie on one page, so a coroutine costs one resident page, not a top page
//! plus a bottom page. The lowest slot of a slab has a PROT_NONE guard page
//! one page below it. Slots are handed out lowest first, so the page under
//! a slot's canary is normally its neighbour's (already resident) top.
//!
//! Slabs grow: the first holds `FIRST_SLOTS` slots, each next one twice as
//! many, up to `MAX_SLOTS` (1 GiB of address space at 1 MiB stacks,
//! `MAP_NORESERVE`, so untouched pages cost nothing).

use std::collections::HashMap;

use super::valgrind::ValgrindStackRegistration;

use super::{die_os, map_anonymous, page_size, Stack};
use crate::util::mutex::Mutex;

/// Bytes at the bottom of each slot that hold its canary word.
pub(super) const CANARY_LEN: usize = 64;
const FIRST_SLOTS: usize = 64;
const MAX_SLOTS: usize = 1024;

pub(super) struct Slabs {
    /// Free slots by usable size: the slots' lowest addresses.
    free: HashMap<usize, Vec<usize>>,
    /// Slots in the next slab.
    next_slots: usize,
}

static SLABS: Mutex<Option<Slabs>> = Mutex::new(None);

/// The slabs' lock, held across a fork.
#[cfg(not(feature = "qemu-backend"))]
pub(super) type ForkGuard = crate::util::mutex::MutexGuard<'static, Option<Slabs>>;

#[cfg(not(feature = "qemu-backend"))]
pub(super) fn lock_for_fork() -> ForkGuard {
    SLABS.lock()
}

/// A slab stack of `usable` bytes (a whole number of pages) or more.
pub fn take(usable: usize) -> Stack {
    let stride = usable + page_size();
    let start = {
        let mut guard = SLABS.lock();
        let slabs = guard.get_or_insert_with(|| Slabs {
            free: HashMap::new(),
            next_slots: FIRST_SLOTS,
        });
        let slots = slabs.free.entry(usable).or_default();
        if slots.is_empty() {
            let n = slabs.next_slots;
            slabs.next_slots = (n * 2).min(MAX_SLOTS);
            // Slabs are few and big: map the next one under the lock.
            new_slab(usable, n, slots);
        }
        slots.pop().expect("just refilled")
    } as *mut u8;
    let bottom = start.wrapping_add(CANARY_LEN);
    let _valgrind = ValgrindStackRegistration::new(bottom, stride - CANARY_LEN);
    Stack {
        start,
        len: stride,
        slab: true,
        _valgrind,
    }
}

/// Maps a slab of `n` slots and lists them in `slots`, lowest last (it is
/// popped first).
fn new_slab(usable: usize, n: usize, slots: &mut Vec<usize>) {
    let page = page_size();
    let stride = usable + page;
    // guard page, the padding page that holds slot 0's canary, the slots
    let start = map_anonymous(2 * page + n * stride, usable);
    // SAFETY: the first page lies inside the mapping made above.
    if unsafe { libc::mprotect(start.cast(), page, libc::PROT_NONE) } != 0 {
        die_os("failed to protect a stack slab's guard page", usable);
    }
    let first = start as usize + 2 * page - CANARY_LEN;
    slots.extend((0..n).rev().map(|i| first + i * stride));
}

/// Returns a slot, dropping the memory its coroutine touched but for the
/// top page, which holds the canary of the slot above (see the module
/// comment).
pub fn give_back(start: *mut u8, stride: usize) {
    let page = page_size();
    let bottom = start as usize + CANARY_LEN;
    let top_page = (start as usize + stride - 1) & !(page - 1);
    // SAFETY: [bottom, top_page) is whole pages of this slot alone, unused
    // (its coroutine was reset); MADV_DONTNEED on private anonymous memory
    // just zero-fills it later.
    unsafe {
        libc::madvise(
            bottom as *mut libc::c_void,
            top_page - bottom,
            libc::MADV_DONTNEED,
        )
    };
    let usable = stride - page;
    let mut guard = SLABS.lock();
    let slabs = guard.as_mut().expect("a slab stack came from a slab");
    slabs.free.entry(usable).or_default().push(start as usize);
}
