//! qemucoro's stand-in for QEMU's `Error`, for the one QEMU signature here
//! that reports errors through `Error **errp` (`aio_context_new`).

use std::ffi::{c_char, CString};

use super::deref;

/// An error message: opaque to C. Read it with `error_get_pretty`, free it
/// with `error_free`.
pub struct Error {
    msg: CString,
}

/// Stores a new error in `*errp`, unless `errp` is NULL (QEMU: ignore).
pub(crate) fn set_error(errp: *mut *mut Error, msg: String) {
    let msg = CString::new(msg).unwrap_or_default();
    // SAFETY: a non-NULL errp points to the caller's `Error *` variable.
    if let Some(slot) = unsafe { errp.as_mut() } {
        *slot = Box::into_raw(Box::new(Error { msg }));
    }
}

/// The message of `err`, valid until `error_free(err)`.
#[no_mangle]
pub extern "C" fn error_get_pretty(err: *const Error) -> *const c_char {
    deref("error_get_pretty", "err", err).msg.as_ptr()
}

/// Frees `err`; NULL is ignored.
#[no_mangle]
pub extern "C" fn error_free(err: *mut Error) {
    if !err.is_null() {
        // SAFETY: non-NULL errors come from Box::into_raw in set_error and
        // are freed once, by their owner.
        drop(unsafe { Box::from_raw(err) });
    }
}
