//! Coroutine stacks: anonymous mappings with a PROT_NONE guard page below.
//!
//! ```text
//!   high  +------------------+ <- base(): the first frame is pushed here
//!         |                  |
//!         |   usable stack   |   `size` bytes, rounded up to whole pages
//!         |                  |
//!         +------------------+ <- usable bottom
//!         |   guard page     |   PROT_NONE: an overflow faults here
//!   low   +------------------+ <- limit(), the start of the mapping
//! ```
//!
//! The mapping is MAP_NORESERVE: only the pages a coroutine touches cost
//! memory, so a 1 MiB stack typically costs one or two pages of RSS.
//!
//! A guarded stack costs two kernel mappings (VMAs), and Linux allows
//! `vm.max_map_count` (65530 by default) per process, so guarded stacks stop
//! at about 30,000 live coroutines. Past a budget of guarded stacks (a
//! quarter of the mappings left after a reserve, or `QEMUCORO_GUARDED_STACKS`)
//! stacks are carved from slabs: one mapping holds `SLAB_SLOTS` stacks, side
//! by side, without guard pages:
//!
//! ```text
//!   | guard | canary ... stack 0 | canary ... stack 1 | ... |   two mappings
//! ```
//!
//! Their protection is a canary word at the bottom of each stack, checked
//! every time the coroutine switches out (see coroutine.rs). An overflow is
//! then caught at the next yield or return rather than at the faulting
//! instruction, and may have scribbled on the neighbouring stack first: the
//! trade-off for 100,000+ live coroutines within the kernel's mapping limit.

use std::io;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use corosensei::stack::valgrind::ValgrindStackRegistration;
use corosensei::stack::StackPointer;

use crate::util::abort::die;
use crate::util::map_count;

/// QEMU's `COROUTINE_STACK_SIZE`.
pub const DEFAULT_STACK_SIZE: usize = 1 << 20;

/// Stacks per slab mapping.
const SLAB_SLOTS: usize = 64;
/// XORed with the canary's address to make the expected canary value.
const CANARY_MAGIC: u64 = 0x51c0_70a5_dead_c0de;

/// One coroutine stack: its own guarded mapping (unmapped on drop), or a
/// slot of a slab (returned to the slab's free list on drop).
pub struct Stack {
    start: *mut u8,
    len: usize,
    slab: bool,
    /// Tells Valgrind this range is a stack, so that switching to it is not
    /// taken for a wild stack pointer; natively a few no-op instructions.
    _valgrind: ValgrindStackRegistration,
}

// SAFETY: a Stack is plain memory owned by one coroutine; moving the owner
// to another thread moves nothing but the pointer.
unsafe impl Send for Stack {}

impl Stack {
    /// A stack of at least `size` usable bytes: guarded while the budget of
    /// guarded stacks lasts, from a slab after that. Aborts with the size and
    /// errno if the kernel refuses (out of memory or out of mappings).
    pub fn new(size: usize) -> Stack {
        let page = page_size();
        let usable = size.max(corosensei::stack::MIN_STACK_SIZE).div_ceil(page) * page;
        if take_guarded_budget() {
            Stack::new_guarded(usable)
        } else {
            slab::take(usable)
        }
    }

    fn new_guarded(usable: usize) -> Stack {
        let page = page_size();
        let len = usable + page;
        let start = map_anonymous(len, usable);
        let _valgrind = ValgrindStackRegistration::new(start.wrapping_add(page), usable);
        let stack = Stack { start, len, slab: false, _valgrind };
        // SAFETY: the first page lies inside the mapping made above.
        if unsafe { libc::mprotect(start.cast(), page, libc::PROT_NONE) } != 0 {
            die_os("failed to protect a coroutine stack's guard page", usable);
        }
        stack
    }

    /// Usable bytes, excluding any guard page.
    pub fn size(&self) -> usize {
        self.len - self.guard_len()
    }

    /// The lowest usable address, just above the guard page if there is one.
    pub fn bottom(&self) -> *mut u8 {
        self.start.wrapping_add(self.guard_len())
    }

    /// The canary of a slab stack (None for a guarded one), written now.
    pub fn arm_canary(&self) -> Option<Canary> {
        if !self.slab {
            return None;
        }
        let canary = Canary(self.start.cast());
        // SAFETY: a slab stack's lowest word is inside its own writable slot.
        unsafe { canary.0.write(canary.expected()) };
        Some(canary)
    }

    fn guard_len(&self) -> usize {
        if self.slab {
            0
        } else {
            page_size()
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if self.slab {
            slab::give_back(self.start, self.len);
            return;
        }
        // SAFETY: start/len describe exactly the mapping made in new(), and
        // the coroutine running on it has been reset, so nothing uses it.
        unsafe { libc::munmap(self.start.cast(), self.len) };
        GUARDED_LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The word at the bottom of a slab stack that an overflow overwrites.
#[derive(Clone, Copy)]
pub struct Canary(*mut u64);

impl Canary {
    fn expected(self) -> u64 {
        CANARY_MAGIC ^ self.0 as u64
    }

    /// Whether the stack above this canary stayed within its bounds.
    #[inline]
    pub fn intact(self) -> bool {
        // SAFETY: the canary lies in a live slab slot owned by the coroutine
        // being checked (armed in arm_canary, which made it valid).
        unsafe { self.0.read_volatile() == self.expected() }
    }
}

static GUARDED_LIVE: AtomicUsize = AtomicUsize::new(0);

/// Counts one more guarded stack if the budget allows it.
fn take_guarded_budget() -> bool {
    let max = guarded_max();
    GUARDED_LIVE
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < max).then_some(n + 1))
        .is_ok()
}

/// How many guarded stacks may be live at once: `QEMUCORO_GUARDED_STACKS`
/// if set, else a quarter of the mappings `vm.max_map_count` leaves after
/// the reserve (each guarded stack costs two).
fn guarded_max() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        if let Some(n) = std::env::var("QEMUCORO_GUARDED_STACKS").ok().and_then(|v| v.parse().ok()) {
            return n;
        }
        map_count::spare_mappings() / 4
    })
}

/// Maps `len` bytes of anonymous, lazily backed, read-write memory.
fn map_anonymous(len: usize, usable: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at an address the kernel picks
    // aliases nothing.
    let start = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if start == libc::MAP_FAILED {
        die_os("failed to map a coroutine stack", usable);
    }
    start.cast()
}

/// Stacks without guard pages, `SLAB_SLOTS` to a mapping.
mod slab {
    use std::collections::HashMap;

    use corosensei::stack::valgrind::ValgrindStackRegistration;

    use super::{die_os, map_anonymous, page_size, Stack, SLAB_SLOTS};
    use crate::util::mutex::Mutex;

    /// Free slots by stack size, as addresses.
    type Free = Option<HashMap<usize, Vec<usize>>>;
    static FREE: Mutex<Free> = Mutex::new(None);

    pub type ForkGuard = crate::util::mutex::MutexGuard<'static, Free>;

    pub fn lock_for_fork() -> ForkGuard {
        FREE.lock()
    }

    pub fn take(usable: usize) -> Stack {
        let mut free = FREE.lock();
        let slots = free.get_or_insert_with(HashMap::new).entry(usable).or_default();
        if slots.is_empty() {
            let page = page_size();
            let start = map_anonymous(page + usable * SLAB_SLOTS, usable);
            // A guard page below the lowest slot: its overflow faults at once.
            // SAFETY: the first page lies inside the mapping made above.
            if unsafe { libc::mprotect(start.cast(), page, libc::PROT_NONE) } != 0 {
                die_os("failed to protect a stack slab's guard page", usable);
            }
            let base = start as usize + page;
            slots.extend((0..SLAB_SLOTS).rev().map(|i| base + i * usable));
        }
        let start = slots.pop().expect("just refilled") as *mut u8;
        let _valgrind = ValgrindStackRegistration::new(start, usable);
        Stack { start, len: usable, slab: true, _valgrind }
    }

    /// Returns a slot, dropping the memory its coroutine touched.
    pub fn give_back(start: *mut u8, len: usize) {
        // SAFETY: the slot is ours and unused (its coroutine was reset);
        // MADV_DONTNEED on private anonymous memory just zero-fills it later.
        unsafe { libc::madvise(start.cast(), len, libc::MADV_DONTNEED) };
        let mut free = FREE.lock();
        free.get_or_insert_with(HashMap::new).entry(len).or_default().push(start as usize);
    }
}

// SAFETY: base() and limit() bound live, writable memory owned by this stack
// of at least MIN_STACK_SIZE bytes. corosensei asks for a guard page below
// it; slab stacks have a canary instead (see the module comment), checked
// on every switch out.
unsafe impl corosensei::stack::Stack for Stack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.start as usize + self.len).expect("mapping is not at 0")
    }

    fn limit(&self) -> StackPointer {
        StackPointer::new(self.start as usize).expect("mapping is not at 0")
    }
}

/// The slab stacks' lock, held across a fork (fork.rs).
pub type ForkGuard = slab::ForkGuard;

pub fn lock_for_fork() -> ForkGuard {
    slab::lock_for_fork()
}

/// Computes what is computed once, so a fork never copies it half made.
pub fn force_lazy_values() {
    page_size();
    guarded_max();
}

/// The system page size, read once.
pub fn page_size() -> usize {
    static PAGE: OnceLock<usize> = OnceLock::new();
    // SAFETY: sysconf has no preconditions.
    *PAGE.get_or_init(|| unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize)
}

fn die_os(what: &str, size: usize) -> ! {
    let err = io::Error::last_os_error();
    die(format_args!("{what} of {size} bytes: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_rounds_up_to_pages() {
        let s = Stack::new(5000);
        assert_eq!(s.size() % page_size(), 0);
        assert!(s.size() >= 5000);
    }

    #[test]
    fn usable_area_is_writable_and_guard_is_below_it() {
        let s = Stack::new(DEFAULT_STACK_SIZE);
        // SAFETY: bottom()..bottom()+size() is the usable, writable area.
        unsafe { s.bottom().write_bytes(0xa5, s.size()) };
        // The guard page is the mapping's first page, right below bottom().
        assert_eq!(s.start as usize + s.guard_len(), s.bottom() as usize);
        assert_eq!(s.guard_len(), page_size());
    }
}
