//! The 2014 API of Stefan Hajnoczi's "Coroutines in QEMU: The basics":
//! `qemu_coroutine_create(entry)` and `qemu_coroutine_enter(co, opaque)`,
//! the opaque reaching the entry function on the first enter. The header
//! maps those names here when `QEMUCORO_LEGACY_API` is defined before the
//! include; these symbols exist in every build.

use std::ffi::c_void;
use std::ptr;

use super::deref;
use qemucoro_coroutine::{self as coroutine, Coroutine, CoroutineEntryFn};

/// Legacy `qemu_coroutine_create(entry)`: the opaque comes with the first
/// enter instead.
#[no_mangle]
pub extern "C" fn qemucoro_legacy_create(entry: *mut CoroutineEntryFn) -> *mut Coroutine {
    let entry = super::entry_fn("qemu_coroutine_create", entry);
    coroutine::create(entry, ptr::null_mut())
}

/// Legacy `qemu_coroutine_enter(co, opaque)`: enters `co`; `opaque` is what
/// the entry function receives if this is the first enter.
#[no_mangle]
pub extern "C" fn qemucoro_legacy_enter(co: *mut Coroutine, opaque: *mut c_void) {
    let co = deref("qemu_coroutine_enter", "co", co);
    if !co.is_entered() {
        co.entry_arg.set(opaque);
    }
    coroutine::enter(ptr::null_mut(), co);
}
