//! The event loop's side of waking coroutines. Placeholder: the AioContext
//! (issue 3) replaces this module; until then a coroutine can only be woken
//! on the thread it last ran on.

use std::ffi::c_void;

use crate::abort::die;
use crate::coroutine::Coroutine;

/// Runs `co` in `ctx`, another thread's event loop.
pub fn schedule(_ctx: *mut c_void, _co: &Coroutine) {
    die(format_args!("aio_co_schedule: no event loop in this build"))
}
