//! The running coroutine and the thread's AioContext, as the rest of the
//! library asks for them. The fields live in the thread block
//! (thread_block.rs); a thread's first call here goes through init.rs,
//! which adopts the thread's leader and readies the thread.

use std::ffi::c_void;

use crate::thread_block::block;
use crate::Coroutine;
use crate::{event_loop, init};

pub use crate::thread_block::peek;

/// The running coroutine, or this thread's leader outside any coroutine.
#[inline(always)]
pub fn get() -> *const Coroutine {
    block().current.get(init::adopt_leader)
}

/// Makes `co` the running coroutine.
#[inline(always)]
pub fn set(co: *const Coroutine) {
    block().current.set(co);
}

/// The calling thread's AioContext, or null if it runs none. The main
/// thread runs the main context, which the event loop binds on first use.
#[inline(always)]
pub fn aio_context() -> *mut c_void {
    let ctx = block().aio_context.get();
    if ctx.is_null() {
        return event_loop::default_context();
    }
    ctx
}

/// Records the AioContext the calling thread runs.
#[inline(always)]
pub fn set_aio_context(ctx: *mut c_void) {
    block().aio_context.set(ctx);
}

/// The running coroutine (or the leader) as a reference, for the lock code.
/// It points at the coroutine itself, not at a TLS slot, so it stays valid
/// across a switch; use it only until that coroutine terminates, after
/// which the pool may recycle or free it.
pub fn running() -> &'static Coroutine {
    // SAFETY: `get` returns the running coroutine, live until it terminates
    // (callers keep the reference no longer, as documented above), or the
    // thread's leader, live as long as the thread.
    unsafe { &*get() }
}
