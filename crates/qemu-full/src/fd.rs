//! Waiting for a readable descriptor with a one-shot handler in QEMU's
//! current AioContext (QEMU's `yield_until_fd_readable`).

use std::ffi::{c_int, c_void};
use std::ptr;

use crate::qemu;
use qemucoro_coroutine::wait::WAIT_FD_READ;
use qemucoro_coroutine::{self as coroutine, Coroutine};

/// What the one-shot handler needs; on the waiting coroutine's stack.
struct FdWait<'a> {
    ctx: *mut c_void,
    co: &'a Coroutine,
    fd: c_int,
}

unsafe extern "C" fn fd_readable(opaque: *mut c_void) {
    // SAFETY: installed with a FdWait that lives until the coroutine is
    // re-entered below, which only this handler does.
    let w = unsafe { &*opaque.cast::<FdWait>() };
    let (ctx, co) = (w.ctx, w.co);
    // SAFETY: removes the handler we installed on `fd` in `ctx`.
    unsafe {
        qemu::aio_set_fd_handler(
            ctx,
            w.fd,
            None,
            None,
            ptr::null_mut(),
            None,
            ptr::null_mut(),
        )
    };
    coroutine::enter(ptr::null_mut(), co);
}

/// Yields until `fd` is readable, through a read handler in the current
/// context that removes itself and re-enters the coroutine.
#[no_mangle]
pub extern "C" fn yield_until_fd_readable(fd: c_int) {
    let co = coroutine::running_or_abort("yield_until_fd_readable");
    // SAFETY: a plain query of QEMU's per-thread state.
    let ctx = unsafe { qemu::qemu_get_current_aio_context() };
    let wait = FdWait { ctx, co, fd };
    co.wait.begin(WAIT_FD_READ, ctx.cast_const(), fd as usize);
    // SAFETY: `wait` lives until we are re-entered, and the handler
    // removes itself before re-entering us.
    unsafe {
        qemu::aio_set_fd_handler(
            ctx,
            fd,
            Some(fd_readable),
            None,
            ptr::null_mut(),
            None,
            ptr::from_ref(&wait).cast_mut().cast(),
        );
    }
    coroutine::yield_now();
    co.wait.end();
}
