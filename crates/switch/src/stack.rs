//! Coroutine stacks: a guarded mapping each while a budget lasts, slots of
//! big slabs after that, and every one with a guard band below it.
//!
//! ```text
//!   high  +------------------+ <- top: the first frame is pushed here
//!         |    top page      |   (beyond the size asked for)
//!         |   usable stack   |   at least `size` bytes, whole pages
//!         |                  |
//!         +------------------+ <- bottom()
//!         |   guard band     |   guard_len(): 64 KiB (16 KiB under a
//!   low   +------------------+   finite RLIMIT_AS), so big frames land in it
//! ```
//!
//! Memory is MAP_NORESERVE: only the pages a coroutine touches cost memory,
//! so a suspended coroutine typically costs one page of RSS.
//!
//! The band is protected one of three ways (`Protection`, docs/stacks.md):
//! - `Mapped`: a stack of its own mapping, its band PROT_NONE. Two kernel
//!   mappings (VMAs) each, and Linux allows `vm.max_map_count` (65530 by
//!   default) per process, so only a budget of stacks is mapped this way
//!   (budget.rs).
//! - `Uffd`: a slot of a slab (slab.rs), many stacks to one mapping, its band
//!   write-protected with userfaultfd (uffd.rs), which splits no mapping. A
//!   write into it raises SIGBUS at the write.
//! - `Checked`: a slab slot where userfaultfd is refused. The band is never
//!   written, so it reads as zeros; its top `CHECK_LEN` bytes are checked at
//!   every switch out (`Fiber::check_stack`). An overflow is caught at the next
//!   yield or return, or at the fault it meets on the way down.
//!
//! The layer above gets a stack region (`bottom()` and `size()`) and the
//! check to make on switching out; it keeps its own control data wherever
//! it likes. A stack's top page is never given back while pooled (it holds
//! the parked frames).

mod budget;
mod slab;
mod uffd;
mod valgrind;

use std::io;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use valgrind::ValgrindStackRegistration;

use qemucoro_util::abort::die;

/// QEMU's `COROUTINE_STACK_SIZE`.
pub const DEFAULT_STACK_SIZE: usize = 1 << 20;

/// Bytes of a `Checked` band, right below the bottom, compared with zero
/// at every switch out: a return address or frame pointer pushed there is
/// never zero.
const CHECK_LEN: usize = 4096;

/// How a stack's guard band is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    /// Its own mapping, the band PROT_NONE: faults at the write (SIGSEGV).
    Mapped = 0,
    /// A slab slot, the band write-protected by userfaultfd: faults at the
    /// write (SIGBUS).
    Uffd = 1,
    /// A slab slot, the band checked for writes at every switch out.
    Checked = 2,
}

/// Stacks that exist now, by protection (see `protection_counts`).
static COUNTS: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];

/// One coroutine stack: its own guarded mapping (unmapped on drop), or a
/// slot of a slab (returned to the slab's free list on drop).
pub struct Stack {
    /// The lowest address owned: the bottom of the guard band.
    start: *mut u8,
    /// Bytes owned from `start`; `start + len` is the top.
    len: usize,
    protection: Protection,
    /// Tells Valgrind this range is a stack, so that switching to it is not
    /// taken for a wild stack pointer; natively a few no-op instructions.
    _valgrind: ValgrindStackRegistration,
}

// SAFETY: a Stack is plain memory owned by one coroutine; moving the owner
// to another thread moves nothing but the pointer.
unsafe impl Send for Stack {}

impl Stack {
    /// A stack of `size` usable bytes (rounded up to pages) and a page more
    /// above them: its own mapping while the budget of those lasts, from a
    /// slab after that. Aborts with the size and errno if the kernel
    /// refuses (out of memory or address space).
    pub fn new(size: usize) -> Stack {
        let page = page_size();
        let usable = size.max(1).div_ceil(page) * page;
        let stack = if budget::take() {
            Stack::new_guarded(usable).unwrap_or_else(|| slab::take(usable))
        } else {
            slab::take(usable)
        };
        COUNTS[stack.protection as usize].fetch_add(1, Ordering::Relaxed);
        stack
    }

    /// A stack of its own mapping, or None (and no more tries) if the
    /// kernel is out of mappings or address space: slabs need far fewer
    /// mappings, and can be cut smaller.
    #[cold]
    fn new_guarded(usable: usize) -> Option<Stack> {
        let page = page_size();
        let guard = guard_len();
        // the band, the stack, and a top page beyond the size asked for
        let len = guard + usable + page;
        let Some(start) = try_map_anonymous(len) else {
            budget::give_back();
            budget::exhausted();
            return None;
        };
        // SAFETY: the band lies inside the mapping made above.
        if unsafe { libc::mprotect(start.cast(), guard, libc::PROT_NONE) } != 0 {
            // Splitting the mapping in two failed: out of mappings.
            // SAFETY: the mapping made above, used by nothing.
            unsafe { libc::munmap(start.cast(), len) };
            budget::give_back();
            budget::exhausted();
            return None;
        }
        let _valgrind = ValgrindStackRegistration::new(start.wrapping_add(guard), len - guard);
        Some(Stack {
            start,
            len,
            protection: Protection::Mapped,
            _valgrind,
        })
    }

    /// Usable bytes, excluding the guard band.
    pub fn size(&self) -> usize {
        self.len - guard_len()
    }

    /// The lowest usable address (page aligned), just above the band.
    pub fn bottom(&self) -> *mut u8 {
        self.start.wrapping_add(guard_len())
    }

    /// How this stack's band is protected.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn protection(&self) -> Protection {
        self.protection
    }

    /// The check to make at every switch out of a `Checked` stack (None
    /// for the others: the kernel guards them).
    pub fn arm_canary(&self) -> Option<Canary> {
        (self.protection == Protection::Checked)
            .then(|| Canary(self.bottom().wrapping_sub(CHECK_LEN).cast()))
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        COUNTS[self.protection as usize].fetch_sub(1, Ordering::Relaxed);
        if self.protection != Protection::Mapped {
            slab::give_back(self.start, self.len, self.protection);
            return;
        }
        // SAFETY: start/len describe exactly the mapping made in new(), and
        // the coroutine running on it has been reset, so nothing uses it.
        unsafe { libc::munmap(self.start.cast(), self.len) };
        budget::give_back();
    }
}

/// The stacks that exist now (live or pooled) as [mapped, uffd, checked].
pub fn protection_counts() -> [usize; 3] {
    COUNTS.each_ref().map(|c| c.load(Ordering::Relaxed))
}

/// Bytes of guard band below every stack's bottom (a whole number of
/// pages): 64 KiB, so that frames up to that size land in it, or 16 KiB if
/// the process has a finite RLIMIT_AS when its first stack is made (the band
/// is address space, and such a process wants stacks to fit as QEMU's do).
pub fn guard_len() -> usize {
    static LEN: OnceLock<usize> = OnceLock::new();
    *LEN.get_or_init(|| {
        // SAFETY: all-zero is a valid rlimit to be filled in.
        let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
        // SAFETY: getrlimit writes the struct it is given.
        let limited = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) } == 0
            && lim.rlim_cur != libc::RLIM_INFINITY;
        let want: usize = if limited { 16 << 10 } else { 64 << 10 };
        want.div_ceil(page_size()) * page_size()
    })
}

/// The `CHECK_LEN` bytes below a `Checked` stack's bottom, which stay
/// zero (never written, so untouched or the shared zero page) unless the
/// stack overflowed into them.
#[derive(Clone, Copy)]
pub struct Canary(*const [u64; CHECK_LEN / 8]);

impl Canary {
    /// Starts loading the band's highest line, the first an overflow hits:
    /// it lies on another page than the stack's top, so a switch that
    /// checks it would wait for two pages in turn; prefetched before the
    /// switch in, the two misses overlap.
    #[inline(always)]
    pub fn prefetch(self) {
        let line = self.0.cast::<u8>().wrapping_add(CHECK_LEN - 64);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch never faults and changes no state but the cache.
        unsafe {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(line.cast::<i8>());
        }
        #[cfg(target_arch = "aarch64")]
        // SAFETY: as above.
        unsafe {
            std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) line,
                            options(nostack, preserves_flags, readonly));
        }
    }

    /// Whether nothing was written into the checked band.
    #[inline]
    pub fn intact(self) -> bool {
        band_is_zero(self)
    }
}

/// `Canary::intact`, out of line: the switch's hot path keeps only the
/// test for a check to make (guarded stacks have none).
#[inline(never)]
fn band_is_zero(canary: Canary) -> bool {
    // SAFETY: the band lies in a live slab slot owned by the coroutine
    // being checked, which is not running, mapped readable (arm_canary
    // made the pointer).
    let band = unsafe { &*canary.0 };
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked just above, cached by std).
        return unsafe { all_zero_avx512(band) };
    }
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above, cached by std).
        return unsafe { all_zero_avx2(band) };
    }
    all_zero(band)
}

/// One OR over it all, no early exit: it vectorises (16-byte loads on
/// baseline x86_64; a 4 KiB band costs about 80 ns that way).
fn all_zero(band: &[u64]) -> bool {
    band.iter().fold(0, |acc, w| acc | w) == 0
}

/// `all_zero` with 32-byte loads: about twice as fast.
///
/// # Safety
/// Only on a CPU with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn all_zero_avx2(band: &[u64]) -> bool {
    all_zero(band)
}

/// `all_zero` with 64-byte loads.
///
/// # Safety
/// Only on a CPU with AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn all_zero_avx512(band: &[u64]) -> bool {
    all_zero(band)
}

/// Gives back the pages of a stack that is not running, but for its top
/// page: a pooled coroutine's parked frames fit there (a reused stack that
/// lost them would crash at once, which the pool's tests would show).
/// `(bottom, size)` are `Stack::bottom` and `Stack::size` of a live stack.
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

/// Maps `len` bytes of anonymous, lazily backed, read-write memory.
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
pub fn requested_size(size: usize) -> usize {
    let page = page_size();
    size.saturating_sub(1) / page * page
}

/// The stack layer's locks, held across a fork (coroutine/fork.rs).
pub struct ForkGuard {
    slabs: slab::ForkGuard,
    _budget: budget::ForkGuard,
}

impl ForkGuard {
    /// In a forked child, before the locks go: a child loses its parent's
    /// userfaultfd guards (the kernel drops the registration), so they are
    /// made again, at about half a microsecond per slab slot.
    pub fn rearm_in_child(&mut self) {
        slab::rearm_in_child(&mut self.slabs);
    }
}

/// Takes the slab and budget locks (in that order; neither is ever taken
/// under the other).
pub fn lock_for_fork() -> ForkGuard {
    ForkGuard {
        slabs: slab::lock_for_fork(),
        _budget: budget::lock_for_fork(),
    }
}

/// Computes what is computed once, so a fork never copies it half made.
pub fn force_lazy_values() {
    page_size();
    guard_len();
    qemucoro_util::map_count::max_map_count();
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
        // The band is the mapping's lowest part, right below bottom().
        assert_eq!(s.start as usize + guard_len(), s.bottom() as usize);
        assert_eq!(guard_len(), 64 << 10);
        assert_eq!(s.protection(), Protection::Mapped);
        assert!(s.arm_canary().is_none());
    }

    /// A size no other test uses, so that its slab is this test's alone.
    const SLAB_TEST_SIZE: usize = 24 * 4096;

    #[test]
    fn slab_slots_sit_one_band_apart() {
        let (low, high) = (slab::take(SLAB_TEST_SIZE), slab::take(SLAB_TEST_SIZE));
        let page = page_size();
        let low_top = low.bottom() as usize + low.size();
        assert_eq!(high.bottom() as usize - guard_len(), low_top);
        assert!(low.size() >= SLAB_TEST_SIZE + page);
        assert_eq!(high.bottom() as usize % page, 0);
        // SAFETY: the low stack's whole usable area is its own.
        unsafe { low.bottom().write_bytes(0x5a, low.size()) };
    }

    #[test]
    fn checked_band_notices_a_write() {
        let s = slab::take_checked_for_test(SLAB_TEST_SIZE + 4096);
        let canary = s.arm_canary().expect("a checked stack has one");
        assert!(canary.intact());
        // SAFETY: the usable area is the stack's own.
        unsafe { s.bottom().write_bytes(0x5a, s.size()) };
        assert!(canary.intact());
        // SAFETY: the band's highest byte: the stack's own address space.
        unsafe { s.bottom().wrapping_sub(1).write(1) };
        assert!(!canary.intact());
        // SAFETY: as above; cleared so the slot goes back as it came.
        unsafe { s.bottom().wrapping_sub(1).write(0) };
        assert!(canary.intact());
        std::mem::forget(s); // in no slab (see take_checked_for_test)
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
