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

use std::io;
use std::ptr;

use corosensei::stack::valgrind::ValgrindStackRegistration;
use corosensei::stack::StackPointer;

use crate::abort::die;

/// QEMU's `COROUTINE_STACK_SIZE`.
pub const DEFAULT_STACK_SIZE: usize = 1 << 20;

/// One mmap'd stack with its guard page; unmapped on drop.
pub struct Stack {
    start: *mut u8,
    len: usize,
    /// Tells Valgrind this range is a stack, so that switching to it is not
    /// taken for a wild stack pointer; natively a few no-op instructions.
    _valgrind: ValgrindStackRegistration,
}

// SAFETY: a Stack is plain memory owned by one coroutine; moving the owner
// to another thread moves nothing but the pointer.
unsafe impl Send for Stack {}

impl Stack {
    /// Maps a stack of at least `size` usable bytes; aborts with the size and
    /// errno if the kernel refuses (out of memory or out of mappings).
    pub fn new(size: usize) -> Stack {
        let page = page_size();
        let usable = size.max(corosensei::stack::MIN_STACK_SIZE).div_ceil(page) * page;
        let len = usable + page;
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
        let start: *mut u8 = start.cast();
        let _valgrind = ValgrindStackRegistration::new(start.wrapping_add(page), usable);
        let stack = Stack { start, len, _valgrind };
        // SAFETY: the first page lies inside the mapping made above.
        if unsafe { libc::mprotect(start.cast(), page, libc::PROT_NONE) } != 0 {
            die_os("failed to protect a coroutine stack's guard page", usable);
        }
        stack
    }

    /// Usable bytes, excluding the guard page.
    pub fn size(&self) -> usize {
        self.len - page_size()
    }

    /// The lowest usable address, just above the guard page.
    pub fn bottom(&self) -> *mut u8 {
        self.start.wrapping_add(page_size())
    }

    /// Whether `addr` lies in this stack's guard page.
    pub fn guard_contains(&self, addr: usize) -> bool {
        let lo = self.start as usize;
        (lo..lo + page_size()).contains(&addr)
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: start/len describe exactly the mapping made in new(), and
        // the coroutine running on it has been reset, so nothing uses it.
        unsafe { libc::munmap(self.start.cast(), self.len) };
    }
}

// SAFETY: base() and limit() bound one live mapping that includes a guard
// page, and the usable part is at least MIN_STACK_SIZE bytes.
unsafe impl corosensei::stack::Stack for Stack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.start as usize + self.len).expect("mapping is not at 0")
    }

    fn limit(&self) -> StackPointer {
        StackPointer::new(self.start as usize).expect("mapping is not at 0")
    }
}

/// The system page size, read once.
pub fn page_size() -> usize {
    static PAGE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
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
        assert!(s.guard_contains(s.bottom() as usize - 1));
        assert!(!s.guard_contains(s.bottom() as usize));
    }
}
