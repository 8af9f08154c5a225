//! Introspection beyond QEMU: how many coroutines are live and pooled, and
//! how deep each stack has been used.
//!
//! Nothing here costs the hot paths: counts come from walking the registry
//! of stacks (registry.rs), and the high-water mark from asking the kernel
//! which of a stack's pages are resident (mincore). Stacks are
//! MAP_NORESERVE anonymous memory, so a page is resident exactly when
//! something touched it, and a stack is touched from the top down: the
//! lowest resident page is the deepest the stack has ever reached, to page
//! granularity, with no painting at birth. Two honest limits: a pooled stack
//! keeps the pages earlier coroutines touched (the mark is the stack's, since
//! it was mapped), and a page swapped out does not count.

use std::sync::atomic::Ordering;

use crate::registry;
use crate::{Coroutine, STATE_LIVE};
use qemucoro_switch::stack::page_size;

/// Counts of coroutines that have a stack.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QemucoroStats {
    /// Created and not yet terminated.
    pub live: usize,
    /// Terminated, waiting in a pool for the next create.
    pub pooled: usize,
}

/// Coroutine stacks that exist now (of live and pooled coroutines), by how
/// an overflow of each is caught (docs/stacks.md).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct QemucoroStackStats {
    /// Own mapping, PROT_NONE guard band: caught at the faulting write.
    pub guarded_mapped: usize,
    /// Slab slot, userfaultfd write-protected guard band: caught at the
    /// faulting write.
    pub guarded_uffd: usize,
    /// Slab slot, guard band checked by software: caught at the next
    /// switch out, or at the fault a runaway recursion meets.
    pub checked: usize,
}

/// Reads the stack layer's counters (no walk).
pub fn stack_counts() -> QemucoroStackStats {
    let [guarded_mapped, guarded_uffd, checked] = qemucoro_switch::stack::protection_counts();
    QemucoroStackStats {
        guarded_mapped,
        guarded_uffd,
        checked,
    }
}

/// Walks every stack once.
pub fn counts() -> QemucoroStats {
    let mut s = QemucoroStats::default();
    registry::for_each(|co| {
        if co.state.load(Ordering::Relaxed) == STATE_LIVE {
            s.live += 1;
        } else {
            s.pooled += 1;
        }
    });
    s
}

/// Usable bytes of `co`'s stack; 0 for a thread's leader.
pub fn stack_size(co: &Coroutine) -> usize {
    co.stack_bounds().map_or(0, |(_, size)| size)
}

/// Bytes of `co`'s stack that have been used at the deepest point so far,
/// rounded up to whole pages; 0 for a thread's leader.
pub fn high_water(co: &Coroutine) -> usize {
    let Some((bottom, size)) = co.stack_bounds() else {
        return 0;
    };
    let page = page_size();
    let mut resident = vec![0u8; size.div_ceil(page)];
    // SAFETY: [bottom, bottom + size) is the stack's mapping, page aligned
    // at the bottom, and `resident` has one byte per page it touches.
    let rc = unsafe { libc::mincore(bottom as *mut libc::c_void, size, resident.as_mut_ptr()) };
    if rc != 0 {
        return 0;
    }
    match resident.iter().position(|r| r & 1 != 0) {
        Some(lowest) => size - lowest * page,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{create, enter, yield_now};
    use std::ffi::c_void;

    /// Touches about 64 KiB of its stack, then parks.
    unsafe extern "C" fn deep(_: *mut c_void) {
        let buf = [0u8; 64 * 1024];
        std::hint::black_box(&buf);
        yield_now();
    }

    #[test]
    fn high_water_covers_what_a_coroutine_touched() {
        let co = create(deep, std::ptr::null_mut());
        // SAFETY: `create` returns a live coroutine.
        let c = unsafe { &*co };
        enter(std::ptr::null_mut(), c);
        assert!(high_water(c) >= 64 * 1024);
        assert!(high_water(c) <= stack_size(c));
        enter(std::ptr::null_mut(), c);
    }

    #[test]
    fn a_leader_has_no_stack() {
        // SAFETY: current::get returns this thread's leader here.
        let leader = unsafe { &*crate::current::get() };
        assert_eq!((stack_size(leader), high_water(leader)), (0, 0));
    }
}
