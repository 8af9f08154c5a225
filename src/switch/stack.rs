//! Coroutine stacks: a guarded mapping each while a budget lasts, slots of
//! big slabs after that.
//!
//! ```text
//!   high  +------------------+ <- top: the first frame is pushed here
//!         |                  |
//!         |   usable stack   |   at least `size` bytes, whole pages
//!         |                  |
//!         +------------------+ <- bottom()
//!         |   guard page     |   PROT_NONE: an overflow faults here
//!   low   +------------------+     (a slab stack has a canary line instead)
//! ```
//!
//! Memory is MAP_NORESERVE: only the pages a coroutine touches cost memory,
//! so a suspended coroutine typically costs one page of RSS.
//!
//! A guarded stack costs two kernel mappings (VMAs) and an mmap, and Linux
//! allows `vm.max_map_count` (65530 by default) mappings per process, so
//! only a budget of stacks is guarded (budget.rs); the rest are slots of
//! slabs (slab.rs), many stacks to a mapping, with no guard page each.
//! Their protection is a canary word at the bottom of each stack, checked
//! every time the coroutine switches out (src/coroutine/mod.rs). An overflow is
//! then caught at the next yield or return rather than at the faulting
//! instruction, and may have scribbled on the neighbouring stack first: the
//! trade-off for a million live coroutines within the kernel's mapping
//! limit.
//!
//! The layer above gets a stack region (`bottom()` and `size()`) and the
//! canary to check; it keeps
//! its own control data wherever it likes. A stack's top page is never
//! given back while pooled (it holds the parked frames).

mod budget;
mod slab;
mod valgrind;

use std::io;
use std::ptr;
use std::sync::OnceLock;

use valgrind::ValgrindStackRegistration;

use crate::util::abort::die;

/// QEMU's `COROUTINE_STACK_SIZE`.
pub const DEFAULT_STACK_SIZE: usize = 1 << 20;

/// XORed with the canary's address to make the expected canary value.
const CANARY_MAGIC: u64 = 0x51c0_70a5_dead_c0de;

/// One coroutine stack: its own guarded mapping (unmapped on drop), or a
/// slot of a slab (returned to the slab's free list on drop).
pub struct Stack {
    /// The lowest address owned: the guard page, or a slab slot's canary.
    start: *mut u8,
    /// Bytes owned from `start`; `start + len` is the top.
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
    /// A stack of `size` usable bytes (rounded up to pages) and up to a page
    /// more above them (a slab slot's layout needs it): guarded while the budget of
    /// guarded stacks lasts, from a slab after that. Aborts with the size and
    /// errno if the kernel refuses (out of memory or address space).
    pub fn new(size: usize) -> Stack {
        let page = page_size();
        let usable = size.max(1).div_ceil(page) * page;
        if budget::take() {
            if let Some(stack) = Stack::new_guarded(usable) {
                return stack;
            }
        }
        slab::take(usable)
    }

    /// A guarded stack, or None (and no more tries) if the kernel is out of
    /// mappings: slabs need far fewer.
    #[cold]
    fn new_guarded(usable: usize) -> Option<Stack> {
        let page = page_size();
        // guard page, the stack, and a top page beyond the size asked for
        // (as a slab slot has)
        let len = page + usable + page;
        let Some(start) = try_map_anonymous(len) else {
            // Out of mappings, or of address space (then the slab fails too
            // and says so).
            budget::give_back();
            budget::exhausted();
            return None;
        };
        // SAFETY: the first page lies inside the mapping made above.
        if unsafe { libc::mprotect(start.cast(), page, libc::PROT_NONE) } != 0 {
            // Splitting the mapping in two failed: out of mappings.
            // SAFETY: the mapping made above, used by nothing.
            unsafe { libc::munmap(start.cast(), len) };
            budget::give_back();
            budget::exhausted();
            return None;
        }
        let _valgrind = ValgrindStackRegistration::new(start.wrapping_add(page), len - page);
        Some(Stack {
            start,
            len,
            slab: false,
            _valgrind,
        })
    }

    /// Usable bytes, excluding any guard page or canary line.
    pub fn size(&self) -> usize {
        self.len - self.guard_len()
    }

    /// The lowest usable address (page aligned), just above the guard page
    /// or canary line.
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
            slab::CANARY_LEN
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
        budget::give_back();
    }
}

/// The word at the bottom of a slab stack that an overflow overwrites.
#[derive(Clone, Copy)]
pub struct Canary(*mut u64);

impl Canary {
    fn expected(self) -> u64 {
        CANARY_MAGIC ^ self.0 as u64
    }

    /// Starts loading the canary into the cache. The canary lies on another
    /// page than the stack's top (that of the slot below), so a switch that
    /// checks it would wait for two cold pages in turn; prefetched before
    /// the switch in, the two misses overlap.
    #[inline(always)]
    #[cfg_attr(feature = "qemu-backend", allow(dead_code))] // core only so far
    pub fn prefetch(self) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch never faults and changes no state but the cache.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(self.0.cast::<i8>().cast_const());
        }
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above.
        unsafe {
            std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) self.0,
                            options(nostack, preserves_flags, readonly));
        }
    }

    /// Whether the stack above this canary stayed within its bounds.
    #[inline]
    pub fn intact(self) -> bool {
        // SAFETY: the canary lies in a live slab slot owned by the coroutine
        // being checked (armed in arm_canary, which made it valid).
        unsafe { self.0.read_volatile() == self.expected() }
    }
}

/// Gives back the pages of a stack that is not running, but for its top
/// page: a pooled coroutine's parked frames fit there (a reused stack that
/// lost them would crash at once, which the pool's tests would show).
/// `(bottom, size)` are `Stack::bottom` and `Stack::size` of a live stack.
#[cfg(any(test, not(feature = "qemu-backend")))] // the C API's pool; tests
pub fn discard_cold_pages(bottom: usize, size: usize) {
    let page = page_size();
    let top_page = (bottom + size - 1) & !(page - 1);
    if top_page > bottom {
        // SAFETY: [bottom, top_page) is whole pages of one stack that
        // nothing runs on; MADV_DONTNEED on private anonymous memory only
        // makes the next touch fault in a zero page.
        unsafe {
            libc::madvise(
                bottom as *mut libc::c_void,
                top_page - bottom,
                libc::MADV_DONTNEED,
            )
        };
    }
}

/// Maps `len` bytes of anonymous, lazily backed, read-write memory, or
/// aborts naming the stack size it was for.
fn map_anonymous(len: usize, usable: usize) -> *mut u8 {
    try_map_anonymous(len).unwrap_or_else(|| die_os("failed to map a coroutine stack", usable))
}

fn try_map_anonymous(len: usize) -> Option<*mut u8> {
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
    (start != libc::MAP_FAILED).then_some(start.cast())
}

/// The size a stack of `size` usable bytes was asked for: every stack has
/// at least one byte and at most a page beyond it (see `Stack::new`).
#[cfg(any(test, not(feature = "qemu-backend")))] // the C API's pool; tests
pub fn requested_size(size: usize) -> usize {
    let page = page_size();
    size.saturating_sub(1) / page * page
}

/// The stack layer's locks, held across a fork (coroutine/fork.rs).
#[cfg(not(feature = "qemu-backend"))] // the C API's pool and fork handlers
pub struct ForkGuard {
    _slabs: slab::ForkGuard,
    _budget: budget::ForkGuard,
}

/// Takes the slab and budget locks (in that order; neither is ever taken
/// under the other).
#[cfg(not(feature = "qemu-backend"))] // the C API's pool and fork handlers
pub fn lock_for_fork() -> ForkGuard {
    ForkGuard {
        _slabs: slab::lock_for_fork(),
        _budget: budget::lock_for_fork(),
    }
}

/// Computes what is computed once, so a fork never copies it half made.
#[cfg(not(feature = "qemu-backend"))] // the C API's pool and fork handlers
pub fn force_lazy_values() {
    page_size();
    crate::util::map_count::max_map_count();
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
    fn size_rounds_up_and_bottom_is_page_aligned() {
        let s = Stack::new(5000);
        assert!(s.size() >= 5000);
        assert_eq!(requested_size(s.size()), 8192);
        assert_eq!(s.bottom() as usize % page_size(), 0);
    }

    #[test]
    fn usable_area_is_writable_and_guard_is_below_it() {
        assert!(
            budget::take(),
            "the test process has guarded stacks to spare"
        );
        let s = Stack::new_guarded(DEFAULT_STACK_SIZE).expect("a guarded stack");
        // SAFETY: bottom()..bottom()+size() is the usable, writable area.
        unsafe { s.bottom().write_bytes(0xa5, s.size()) };
        // The guard page is the mapping's first page, right below bottom().
        assert_eq!(s.start as usize + s.guard_len(), s.bottom() as usize);
        assert_eq!(s.guard_len(), page_size());
    }

    /// A size no other test uses, so that its slab is this test's alone.
    const SLAB_TEST_SIZE: usize = 24 * 4096;

    #[test]
    fn slab_canary_shares_a_page_with_the_top_of_the_slot_below() {
        let (low, high) = (slab::take(SLAB_TEST_SIZE), slab::take(SLAB_TEST_SIZE));
        let page = page_size();
        let low_top = low.bottom() as usize + low.size();
        let high_canary = high.bottom() as usize - slab::CANARY_LEN;
        assert_eq!(high_canary, low_top);
        assert_eq!((low_top - 1) / page, high_canary / page);
        assert!(low.size() >= SLAB_TEST_SIZE);
        assert_eq!(high.bottom() as usize % page, 0);
        let canary = high.arm_canary().expect("a slab stack has one");
        // SAFETY: the low stack's whole usable area is its own.
        unsafe { low.bottom().write_bytes(0x5a, low.size()) };
        assert!(canary.intact());
        // SAFETY: one byte past the low stack's top: the high one's canary.
        unsafe { (low_top as *mut u8).write(0) };
        assert!(!canary.intact());
    }

    #[test]
    fn discarding_keeps_the_top_page_and_zeroes_below() {
        let s = Stack::new(DEFAULT_STACK_SIZE);
        let (bottom, size) = (s.bottom() as usize, s.size());
        let top_byte = (bottom + size - 1) as *mut u8;
        // SAFETY: both bytes lie in the usable area.
        unsafe {
            s.bottom().write(1);
            top_byte.write(2);
        }
        discard_cold_pages(bottom, size);
        // SAFETY: as above.
        unsafe { assert_eq!((s.bottom().read(), top_byte.read()), (0, 2)) };
    }
}
