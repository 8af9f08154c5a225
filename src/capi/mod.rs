//! The C exports, grouped by concept. Each function converts pointers,
//! rejects NULL with a message naming itself, and calls safe Rust. A panic
//! cannot unwind into C: the crate is built with `panic = "abort"`, and an
//! `extern "C"` function aborts on unwind regardless.

// C hands us raw pointers by design; each deref is checked for NULL and
// documented on the C side.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

mod coroutine;
mod legacy;

use crate::abort::null_arg;
use crate::coroutine::{CoroutineEntry, CoroutineEntryFn};

/// Borrows a C pointer that must not be NULL.
///
/// The pointee must be live for the duration of the call, which every C
/// caller of this API promises (it is the object they created or embed).
pub(crate) fn deref<'a, T>(func: &str, what: &str, ptr: *const T) -> &'a T {
    // SAFETY: non-null pointers passed by C point to live objects of the
    // right type for the length of the call; that is the API's contract.
    match unsafe { ptr.as_ref() } {
        Some(r) => r,
        None => null_arg(func, what),
    }
}

/// Turns C's `CoroutineEntry *` into a callable Rust fn pointer.
pub(crate) fn entry_fn(func: &str, entry: *mut CoroutineEntryFn) -> CoroutineEntry {
    if entry.is_null() {
        null_arg(func, "entry");
    }
    // SAFETY: C passes a pointer to a function of type CoroutineEntry, which
    // has exactly this ABI and signature; it is not NULL (checked above).
    unsafe { std::mem::transmute::<*mut CoroutineEntryFn, CoroutineEntry>(entry) }
}
