//! The C exports of the coroutine core and what a coroutine waits with
//! (QEMU's `qemu/coroutine.h` but for what needs an event loop: timed
//! sleeps, fd handlers, the contexts themselves). One copy serves both
//! products: the C library re-exports it beside its event loop, and QEMU's
//! full mode (crates/qemu-full) beside QEMU's.
//!
//! Each C function converts pointers, rejects NULL with a message naming
//! itself, and calls safe Rust. A panic cannot unwind into C: the products
//! are built with `panic = "abort"`, and an `extern "C"` function aborts on
//! unwind regardless.

// C hands us raw pointers by design; each deref is checked for NULL and
// documented on the C side.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

// In the header's order (cbindgen follows it).
mod co_io;
mod co_mutex;
mod co_queue;
mod co_rwlock;
mod co_sleep;
mod coroutine;

use qemucoro_coroutine::{CoroutineEntry, CoroutineEntryFn};
use qemucoro_util::abort::null_arg;

/// Borrows a C pointer that must not be NULL.
///
/// The pointee must be live for the duration of the call, which every C
/// caller of this API promises (it is the object they created or embed).
pub fn deref<'a, T>(func: &str, what: &str, ptr: *const T) -> &'a T {
    // SAFETY: non-null pointers passed by C point to live objects of the
    // right type for the length of the call; that is the API's contract.
    match unsafe { ptr.as_ref() } {
        Some(r) => r,
        None => null_arg(func, what),
    }
}

/// Borrows a C pointer that may be NULL (an optional argument).
pub fn deref_opt<'a, T>(ptr: *const T) -> Option<&'a T> {
    // SAFETY: as in `deref`; NULL becomes None.
    unsafe { ptr.as_ref() }
}

/// Initialises the object C embeds at `ptr`, whatever its bytes were.
pub fn init<T>(func: &str, what: &str, ptr: *mut T, value: T) {
    if ptr.is_null() {
        null_arg(func, what);
    }
    // SAFETY: C passes memory it owns for an object of this type, aligned
    // as the header's definition requires; it holds nothing to drop (the
    // lock types are plain data), so overwriting it is what init means.
    unsafe { ptr.write(value) }
}

/// Turns C's `CoroutineEntry *` into a callable Rust fn pointer.
pub fn entry_fn(func: &str, entry: *mut CoroutineEntryFn) -> CoroutineEntry {
    if entry.is_null() {
        null_arg(func, "entry");
    }
    // SAFETY: C passes a pointer to a function of type CoroutineEntry, which
    // has exactly this ABI and signature; it is not NULL (checked above).
    unsafe { std::mem::transmute::<*mut CoroutineEntryFn, CoroutineEntry>(entry) }
}
