//! Waiting for a descriptor to become readable (QEMU's
//! `yield_until_fd_readable`, util/qemu-coroutine-io.c) with a one-shot
//! handler in our AioContext. Whole transfers are qemucoro-locks' co_io.

use std::ffi::c_void;
use std::os::fd::RawFd;
use std::ptr;

use crate::fd_handler::Handlers;
use crate::AioContext;
use qemucoro_coroutine::current;
use qemucoro_coroutine::wait::WAIT_FD_READ;
use qemucoro_coroutine::{self as coroutine, Coroutine};

/// What the one-shot read handler of `yield_until_fd_readable` needs.
struct FdWait<'a> {
    ctx: &'a AioContext,
    co: &'a Coroutine,
    fd: RawFd,
}

unsafe extern "C" fn fd_readable(opaque: *mut c_void) {
    // SAFETY: the handler is installed with a FdWait on the waiting
    // coroutine's stack, alive until the coroutine is re-entered below.
    let w = unsafe { &*opaque.cast::<FdWait>() };
    let (ctx, co) = (w.ctx, w.co);
    ctx.set_fd_handler(w.fd, no_handlers());
    coroutine::enter(current::aio_context(), co);
}

fn no_handlers() -> Handlers {
    Handlers {
        io_read: None,
        io_write: None,
        io_poll: None,
        io_poll_ready: None,
        opaque: 0,
    }
}

/// `yield_until_fd_readable`: yields until `fd` is readable, through a
/// read handler in the current context that removes itself and re-enters
/// the coroutine.
pub fn yield_until_fd_readable(fd: RawFd) {
    let co = coroutine::running_or_abort("yield_until_fd_readable");
    let ctx = crate::require_context("yield_until_fd_readable");
    let wait = FdWait { ctx, co, fd };
    let h = Handlers {
        io_read: Some(fd_readable),
        opaque: ptr::from_ref(&wait) as usize,
        ..no_handlers()
    };
    co.wait
        .begin(WAIT_FD_READ, ctx.as_ptr().cast(), fd as usize);
    ctx.set_fd_handler(fd, h);
    coroutine::yield_now();
    co.wait.end();
}

pub use qemucoro_locks::co_io::sendv_recvv;
