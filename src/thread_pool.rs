//! C exports of the thread pool (QEMU's `block/thread-pool.h` and the pool
//! parameters of `block/aio.h`).

use std::ffi::{c_int, c_void};

use super::aio::c_callback;
use super::deref;
use super::error::{set_error, Error};
use qemucoro_aio::aiocb::{BlockAIOCB, BlockCompletionFuncFn};
use qemucoro_aio::thread_pool::{self, ThreadPoolAio, ThreadPoolFunc};
use qemucoro_aio::{self as aio, AioContext};
use qemucoro_util::abort::null_arg;

/// Stands for QEMU's function type `ThreadPoolFunc` (`int
/// ThreadPoolFunc(void *opaque)`); never instantiated.
#[repr(C)]
pub struct ThreadPoolFuncFn {
    _opaque: [u8; 0],
}

fn pool_func(func: &str, f: *mut ThreadPoolFuncFn) -> ThreadPoolFunc {
    c_callback!(f, ThreadPoolFunc).unwrap_or_else(|| null_arg(func, "func"))
}

/// Runs `func(arg)` on a worker thread of the calling thread's context,
/// then, from that context's loop, `cb(opaque, ret)` with what it returned
/// (`cb` may be NULL). The returned request can be cancelled until its
/// callback runs; it is freed after that. Aborts on a thread with no
/// context.
#[no_mangle]
pub extern "C" fn thread_pool_submit_aio(
    func: *mut ThreadPoolFuncFn,
    arg: *mut c_void,
    cb: *mut BlockCompletionFuncFn,
    opaque: *mut c_void,
) -> *mut BlockAIOCB {
    let f = pool_func("thread_pool_submit_aio", func);
    let ctx = aio::require_context("thread_pool_submit_aio");
    thread_pool::submit_aio(ctx, f, arg, cb, opaque)
}

/// From a coroutine: runs `func(arg)` on a worker thread of the current
/// context while the coroutine sleeps, and returns what it returned.
#[no_mangle]
pub extern "C" fn thread_pool_submit_co(func: *mut ThreadPoolFuncFn, arg: *mut c_void) -> c_int {
    let f = pool_func("thread_pool_submit_co", func);
    let ctx = aio::require_context("thread_pool_submit_co");
    thread_pool::submit_co(ctx, f, arg)
}

/// Sets how many worker threads `ctx`'s pool keeps at least (`min`, even
/// when idle) and runs at most (`max`). Bad values (min > max, max <= 0,
/// min < 0, above INT_MAX) set `*errp` and change nothing.
#[no_mangle]
pub extern "C" fn aio_context_set_thread_pool_params(
    ctx: *mut AioContext,
    min: i64,
    max: i64,
    errp: *mut *mut Error,
) {
    let c = deref("aio_context_set_thread_pool_params", "ctx", ctx);
    const FUNC: &str = "aio_context_set_thread_pool_params";
    const BAD: &str = "bad thread-pool-min/thread-pool-max values";
    let (Ok(lo), Ok(hi)) = (c_int::try_from(min), c_int::try_from(max)) else {
        return set_error(errp, FUNC, BAD.into());
    };
    if lo > hi || hi <= 0 || lo < 0 {
        return set_error(errp, FUNC, BAD.into());
    }
    thread_pool::set_params(c, lo, hi);
}

/// `ctx`'s thread pool, made on first use. From `ctx`'s thread.
#[no_mangle]
pub extern "C" fn aio_get_thread_pool(ctx: *mut AioContext) -> *mut ThreadPoolAio {
    let c = deref("aio_get_thread_pool", "ctx", ctx);
    std::ptr::from_ref(thread_pool::pool_of(c)).cast_mut()
}

/// Applies `ctx`'s thread pool parameters to `pool`, which must be `ctx`'s
/// (`aio_context_set_thread_pool_params` already does this).
#[no_mangle]
pub extern "C" fn thread_pool_update_params(pool: *mut ThreadPoolAio, ctx: *mut AioContext) {
    let c = deref("thread_pool_update_params", "ctx", ctx);
    let p = deref("thread_pool_update_params", "pool", pool);
    thread_pool::update_params(p, c);
}
