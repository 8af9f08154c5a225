//! Iothreads: a context running on a thread of its own, in the shape of
//! QEMU's test helper (tests/unit/iothread.c): create, get its context, join.

use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::bh;
use super::context::AioContext;
use qemucoro_coroutine::current;
use qemucoro_util::abort::die;

/// A thread running its own AioContext: opaque to C.
pub struct IOThread {
    ctx: *mut AioContext,
    stopping: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

struct SendPtr(*mut AioContext);
// SAFETY: contexts are made to be used from any thread.
unsafe impl Send for SendPtr {}

/// `iothread_new`: starts a thread running a new context. The context is
/// made here, before the thread starts, so that starting the thread is the
/// only hand-off (one ThreadSanitizer sees) and nothing has to wait for it.
pub fn new() -> Box<IOThread> {
    let stopping = Arc::new(AtomicBool::new(false));
    let ctx = AioContext::new()
        .unwrap_or_else(|err| die(format_args!("iothread_new: cannot create a context: {err}")));
    let send_ctx = SendPtr(ctx);
    let stop = stopping.clone();
    let thread = std::thread::Builder::new()
        .name("iothread".into())
        .spawn(move || {
            let send_ctx = send_ctx; // the whole struct, which is Send
            current::set_aio_context(send_ctx.0.cast());
            // SAFETY: the IOThread owns the context's first reference and
            // drops it only after joining us.
            let ctx = unsafe { &*send_ctx.0 };
            while !stop.load(Ordering::Acquire) {
                ctx.poll(true);
            }
            // Work queued before the stop request may have arrived in the
            // same iteration as the stop, behind it: run it too.
            while ctx.poll(false) {}
            current::set_aio_context(std::ptr::null_mut());
        })
        .unwrap_or_else(|err| die(format_args!("iothread_new: cannot start a thread: {err}")));
    Box::new(IOThread {
        ctx,
        stopping,
        thread,
    })
}

impl IOThread {
    pub fn context(&self) -> *mut AioContext {
        self.ctx
    }
}

unsafe extern "C" fn stop(opaque: *mut c_void) {
    // SAFETY: `join` passes its `stopping` flag, alive until the thread ends.
    unsafe { &*opaque.cast::<AtomicBool>() }.store(true, Ordering::Release);
}

/// `iothread_join`: stops the loop (from inside it, so work queued before
/// runs first), joins the thread and drops the context's reference.
pub fn join(it: IOThread) {
    // SAFETY: the thread keeps the context alive until we unref it below.
    let ctx = unsafe { &*it.ctx };
    bh::schedule_oneshot(
        ctx,
        stop,
        Arc::as_ptr(&it.stopping).cast_mut().cast(),
        c"iothread_stop_bh",
    );
    if it.thread.join().is_err() {
        die(format_args!("iothread_join: the iothread panicked"));
    }
    // SAFETY: this is the IOThread's reference, given up once.
    unsafe { ctx.unref() };
}
