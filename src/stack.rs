//! PLACEHOLDER for branch `qemu` until main's src/stack.rs lands: an mmap'd
//! coroutine stack with a guard page. On merge, main's version wins.

use corosensei::stack::StackPointer;
use std::ptr;

/// One mmap'd stack with its guard page at the low end; unmapped on drop.
pub struct Stack {
    start: *mut u8,
    len: usize,
}

// SAFETY: a Stack is plain memory; moving its owner moves only the pointer.
unsafe impl Send for Stack {}

impl Stack {
    /// Maps `size` usable bytes plus a PROT_NONE guard page; aborts on failure.
    pub fn new(size: usize) -> Stack {
        let page = page_size();
        let usable = size.max(corosensei::stack::MIN_STACK_SIZE).div_ceil(page) * page;
        let len = usable + page;
        // SAFETY: an anonymous private mapping aliases nothing.
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
            eprintln!("qemucoro: failed to map a {usable}-byte coroutine stack");
            std::process::abort();
        }
        // SAFETY: the first page lies inside the mapping made above.
        if unsafe { libc::mprotect(start, page, libc::PROT_NONE) } != 0 {
            eprintln!("qemucoro: failed to protect a coroutine stack's guard page");
            std::process::abort();
        }
        Stack { start: start.cast(), len }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // SAFETY: start/len are exactly the mapping made in new().
        unsafe { libc::munmap(self.start.cast(), self.len) };
    }
}

// SAFETY: base()/limit() bound one live mapping that includes a guard page.
unsafe impl corosensei::stack::Stack for Stack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.start as usize + self.len).expect("mapping is not at 0")
    }

    fn limit(&self) -> StackPointer {
        StackPointer::new(self.start as usize).expect("mapping is not at 0")
    }
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}
