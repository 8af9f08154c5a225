//! C exports of the coroutine core (QEMU's `qemu/coroutine-core.h`).
//!
//! No `ret` crosses a switch on the way through `qemu_coroutine_enter` and
//! `qemu_coroutine_yield`: a `ret` there would return through a frame the
//! other side's calls pushed and miss the return-stack predictor on every
//! switch. `qemu_coroutine_enter` is an assembly stub (x86_64 and aarch64):
//! it calls `enter_begin` (the core's `enter_begin`, plain Rust with its
//! thread-locals inlined, then a tail jump into the switch), so the
//! coroutine comes back straight into the stub; the stub then calls
//! `enter_end` (balanced) and leaves with an indirect jump (`pop rcx; jmp
//! rcx`, `br x30`). `qemu_coroutine_yield` is the core's `yield_begin` and
//! a tail jump into the switch, so a yielded coroutine resumes straight in
//! its C caller (in x86_64 sanitizer builds, a stub that calls
//! `yield_begin`, the switch, then `yield_end`, for the hooks). The stubs'
//! instructions are switch/arch's (`enter_stub!`, `yield_stub!`); the
//! halves they call by symbol are the C-ABI faces of the core's halves of
//! the same names, defined here beside the stubs. The tail jumps are LLVM's
//! (a sibling call to this crate's copy of the switch, see
//! `define_switch!`); `make check-shared` checks that they are there on
//! x86_64, `make check-aarch64` on aarch64.

use std::ffi::{c_uint, c_void};
use std::ptr;

use crate::deref;
use qemucoro_coroutine::{self as coroutine, Coroutine, CoroutineEntryFn};
use qemucoro_coroutine::{current, pool};

// The switch, compiled into this crate so that enter_begin and
// qemu_coroutine_yield tail-jump into it directly (see the macro).
qemucoro_switch::define_switch!();

/// Creates a coroutine that will run `entry(opaque)` when first entered.
///
/// The coroutine comes from a pool when one is free. It is freed (returned
/// to the pool) when `entry` returns. Aborts if `entry` is NULL.
#[no_mangle]
#[link_section = ".text.hot.qemucoro"]
pub extern "C" fn qemu_coroutine_create(
    entry: *mut CoroutineEntryFn,
    opaque: *mut c_void,
) -> *mut Coroutine {
    let entry = crate::entry_fn("qemu_coroutine_create", entry);
    coroutine::create(entry, opaque)
}

/// Runs `co` until it yields or returns, then returns to the caller.
///
/// Coroutines that `co` woke meanwhile (through a lock or queue) run next,
/// before this returns. Aborts with "Co-routine re-entered recursively" if
/// `co` is already entered, and if `co` is NULL.
// An assembly stub (qemucoro_switch::enter_stub!, per arch): no `ret`
// crosses the switch.
#[unsafe(naked)]
#[no_mangle]
#[link_section = ".text.hot.qemucoro"]
pub extern "C" fn qemu_coroutine_enter(co: *mut Coroutine) {
    qemucoro_switch::enter_stub!(enter_begin, enter_end)
}

/// The enter stub's first half: QEMU's NULL check and the core's
/// `enter_begin`, then a tail jump into the switch, so that the coroutine
/// comes back straight into the stub with its action (in the low 32 bits:
/// the switch's word is returned whole, as a truncation between the call
/// and the return keeps LLVM from the tail call on aarch64).
#[link_section = ".text.hot.qemucoro"]
extern "C" fn enter_begin(co: *const Coroutine) -> usize {
    // SAFETY: C passes a coroutine pointer; NULL is rejected here.
    let Some(co) = (unsafe { co.as_ref() }) else {
        qemucoro_util::abort::null_arg("qemu_coroutine_enter", "co")
    };
    let slot = coroutine::enter_begin(ptr::null_mut(), co);
    // SAFETY: enter_begin checked that `co` is suspended and made it the
    // running coroutine; it switches back into the stub through the slot.
    unsafe { qemucoro_switch(slot, coroutine::ACTION_ENTER as usize) }
}

/// The enter stub's second half: `action` is what the switch into `co`
/// returned.
#[link_section = ".text.hot.qemucoro"]
extern "C" fn enter_end(co: *const Coroutine, action: u32) {
    // SAFETY: enter_begin accepted `co`; it is live at least until
    // the core's enter_end recycles it.
    coroutine::enter_end(unsafe { &*co }, action);
}

/// Enters `co` unless it is already entered (running or nested below us).
#[no_mangle]
pub extern "C" fn qemu_coroutine_enter_if_inactive(co: *mut Coroutine) {
    let co = deref("qemu_coroutine_enter_if_inactive", "co", co);
    if co.is_pooled() {
        coroutine::die_stale("qemu_coroutine_enter_if_inactive");
    }
    if !co.is_entered() {
        coroutine::enter(ptr::null_mut(), co);
    }
}

/// Suspends the running coroutine and returns to whoever entered it.
///
/// Aborts with "Co-routine is yielding to no one" outside a coroutine.
#[cfg(not(any(feature = "asan", feature = "tsan")))]
#[no_mangle]
#[link_section = ".text.hot.qemucoro"]
pub extern "C" fn qemu_coroutine_yield() {
    let slot = coroutine::yield_begin();
    // SAFETY: yield_begin returned the running coroutine's slot, which
    // holds its enterer's context; the next enter switches back here, into
    // our C caller (the core's yield_end has nothing to do here).
    unsafe { qemucoro_switch(slot, coroutine::ACTION_YIELD as usize) };
}

/// The sanitizer stub's halves: the core's, with the C ABI.
#[cfg(all(target_arch = "x86_64", any(feature = "asan", feature = "tsan")))]
extern "C" fn yield_begin() -> *mut usize {
    coroutine::yield_begin()
}

#[cfg(all(target_arch = "x86_64", any(feature = "asan", feature = "tsan")))]
extern "C" fn yield_end() {
    coroutine::yield_end();
}

/// As above, with the sanitizers' hooks after the switch.
/// cbindgen:ignore
#[cfg(all(target_arch = "x86_64", any(feature = "asan", feature = "tsan")))]
#[unsafe(naked)]
#[no_mangle]
pub extern "C" fn qemu_coroutine_yield() {
    qemucoro_switch::yield_stub!(
        yield_begin,
        qemucoro_switch,
        yield_end,
        coroutine::ACTION_YIELD
    )
}

/// As above, in aarch64 sanitizer builds, which nothing makes (no cross
/// sanitizer runtime: cross/check-aarch64.sh builds the plain library), so
/// they keep the plain Rust path rather than an untested stub.
/// cbindgen:ignore
#[cfg(all(target_arch = "aarch64", any(feature = "asan", feature = "tsan")))]
#[no_mangle]
pub extern "C" fn qemu_coroutine_yield() {
    coroutine::yield_now();
}

/// The running coroutine; outside any coroutine, the calling thread's
/// leader: never NULL, and the same pointer on every call from that thread.
#[no_mangle]
pub extern "C" fn qemu_coroutine_self() -> *mut Coroutine {
    current::get().cast_mut()
}

/// Whether the caller is running inside a coroutine.
#[no_mangle]
pub extern "C" fn qemu_in_coroutine() -> bool {
    coroutine::in_coroutine()
}

/// Whether `co` has been entered and not yet yielded or returned: true for
/// the running coroutine and for every coroutine that entered it.
#[no_mangle]
pub extern "C" fn qemu_coroutine_entered(co: *mut Coroutine) -> bool {
    let co = deref("qemu_coroutine_entered", "co", co);
    if co.is_pooled() {
        coroutine::die_stale("qemu_coroutine_entered");
    }
    co.is_entered()
}

/// Lets the global pool hold `additional_pool_size` more coroutines.
#[no_mangle]
pub extern "C" fn qemu_coroutine_inc_pool_size(additional_pool_size: c_uint) {
    pool::inc_max(additional_pool_size as usize);
}

/// Undoes `qemu_coroutine_inc_pool_size`.
#[no_mangle]
pub extern "C" fn qemu_coroutine_dec_pool_size(removing_pool_size: c_uint) {
    pool::dec_max(removing_pool_size as usize);
}
