//! Atomic views of plain fields in C-visible lock structs.
//!
//! `CoMutex` and `CoRwlock` are embedded by value in C structs, so the
//! header must show plain `unsigned` and pointer fields (cbindgen prints an
//! `UnsafeCell<T>` field as `T`). The fields that threads share are
//! `UnsafeCell`s that the lock modules only ever touch through these views,
//! never through plain loads or stores, so every concurrent access is atomic.

use std::cell::UnsafeCell;
use std::ffi::c_uint;
use std::sync::atomic::{AtomicPtr, AtomicU32};

/// The field as an `AtomicU32` (same size and alignment as `c_uint`).
pub fn uint(field: &UnsafeCell<c_uint>) -> &AtomicU32 {
    // SAFETY: the pointer is valid and aligned for as long as `field` is
    // borrowed, and by this module's contract the field is only accessed
    // atomically while shared.
    unsafe { AtomicU32::from_ptr(field.get()) }
}

/// The field as an `AtomicPtr<T>` (same size and alignment as `*mut T`).
pub fn ptr<T>(field: &UnsafeCell<*mut T>) -> &AtomicPtr<T> {
    // SAFETY: as in `uint`.
    unsafe { AtomicPtr::from_ptr(field.get()) }
}
