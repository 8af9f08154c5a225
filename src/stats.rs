//! C exports of the introspection extension (stats.rs). Not in QEMU.

use super::deref;
use qemucoro_coroutine::stats::{self, QemucoroStackStats, QemucoroStats};
use qemucoro_coroutine::Coroutine;

/// Fills `*stats` with the number of live coroutines (created, not yet
/// terminated) and pooled ones (terminated, kept for reuse). Not in QEMU.
///
/// Walks every coroutine that has a stack, under a lock: meant for
/// diagnostics, not for hot paths. Aborts if `stats` is NULL.
#[no_mangle]
pub extern "C" fn qemucoro_get_stats(stats: *mut QemucoroStats) {
    if stats.is_null() {
        qemucoro_util::abort::null_arg("qemucoro_get_stats", "stats");
    }
    // SAFETY: non-null, and the caller passes a writable QemucoroStats.
    unsafe { stats.write(stats::counts()) };
}

/// Fills `*stats` with how many coroutine stacks exist (of live and pooled
/// coroutines) under each protection against overflow: a guard band of
/// their own mapping, a guard band write-protected with userfaultfd in a
/// shared slab, or a band checked at every switch out where userfaultfd is
/// refused. Not in QEMU. Reads counters; aborts if `stats` is NULL.
#[no_mangle]
pub extern "C" fn qemucoro_get_stack_stats(stats: *mut QemucoroStackStats) {
    if stats.is_null() {
        qemucoro_util::abort::null_arg("qemucoro_get_stack_stats", "stats");
    }
    // SAFETY: non-null, and the caller passes a writable QemucoroStackStats.
    unsafe { stats.write(stats::stack_counts()) };
}

/// The usable size in bytes of `co`'s stack (0 for a thread's leader, from
/// `qemu_coroutine_self()` outside a coroutine). Not in QEMU.
#[no_mangle]
pub extern "C" fn qemucoro_stack_size(co: *mut Coroutine) -> usize {
    stats::stack_size(deref("qemucoro_stack_size", "co", co))
}

/// How many bytes of `co`'s stack have been used at the deepest point so
/// far, to page granularity (0 for a thread's leader). Not in QEMU.
///
/// Measured by asking the kernel which stack pages are resident, so it is
/// always available and costs nothing until asked. A pooled stack keeps its
/// mark across reuse: the figure is the deepest any coroutine that ran on
/// this stack reached. Compare with `qemucoro_stack_size()` to choose stack
/// sizes. Aborts if `co` is NULL.
#[no_mangle]
pub extern "C" fn qemucoro_stack_high_water(co: *mut Coroutine) -> usize {
    stats::high_water(deref("qemucoro_stack_high_water", "co", co))
}
