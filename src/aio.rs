//! C exports of the event loop's contexts, fd handlers and the coroutine
//! side of contexts (QEMU's `block/aio.h`, `qemu/main-loop.h` and the
//! context functions of `qemu/coroutine-core.h`).

use std::ffi::{c_int, c_void};
use std::ptr;

use super::deref;
use super::error::{set_error, Error};
use qemucoro_aio::fd_handler::{AioPollFn, Handlers, IOHandler};
use qemucoro_aio::{self as aio, AioContext};
use qemucoro_coroutine::{self as coroutine, Coroutine};

/// Stands for QEMU's function type `IOHandler` (`void IOHandler(void
/// *opaque)`) so the header reads `IOHandler *io_read`; never instantiated.
#[repr(C)]
pub struct IOHandlerFn {
    _opaque: [u8; 0],
}

/// Stands for QEMU's function type `AioPollFn` (`bool AioPollFn(void
/// *opaque)`); never instantiated.
#[repr(C)]
pub struct AioPollFnFn {
    _opaque: [u8; 0],
}

/// Converts a C function pointer (NULL allowed) to its Rust type.
macro_rules! c_callback {
    ($ptr:expr, $ty:ty) => {{
        let p = $ptr;
        if p.is_null() {
            None
        } else {
            // SAFETY: C passes a pointer to a function of exactly this
            // signature (the header's typedef); it is not NULL.
            Some(unsafe { std::mem::transmute::<*mut _, $ty>(p) })
        }
    }};
}
pub(crate) use c_callback;

/// Returns the main loop's context, creating it on first use. It is never
/// freed. On the process's main thread it is also the current context.
#[no_mangle]
pub extern "C" fn qemu_get_aio_context() -> *mut AioContext {
    aio::main_context().as_ptr()
}

/// Returns the calling thread's context: an iothread's own on that thread,
/// the main context on the process's main thread, the one set with
/// `qemu_set_current_aio_context`, or NULL on any other thread (as QEMU
/// for threads that do not hold its BQL).
#[no_mangle]
pub extern "C" fn qemu_get_current_aio_context() -> *mut AioContext {
    aio::current_context().map_or(std::ptr::null_mut(), AioContext::as_ptr)
}

/// Makes `ctx` the calling thread's own context: the one it may poll and in
/// which its coroutines run. Only for a thread that has none yet (not the
/// main thread, not an iothread); aborts otherwise.
#[no_mangle]
pub extern "C" fn qemu_set_current_aio_context(ctx: *mut AioContext) {
    aio::set_current_context(deref("qemu_set_current_aio_context", "ctx", ctx));
}

/// Creates a context with one reference; run it with `aio_poll` from one
/// thread at a time, its home thread.
///
/// On failure this returns NULL and hands the error to `errp` as QEMU's
/// error_setg does (`&error_abort` aborts, `&error_fatal` exits, NULL
/// ignores it).
#[no_mangle]
pub extern "C" fn aio_context_new(errp: *mut *mut Error) -> *mut AioContext {
    match AioContext::new() {
        Ok(ctx) => ctx,
        Err(err) => {
            set_error(
                errp,
                "aio_context_new",
                format!("Failed to initialize event notifier: {err}"),
            );
            std::ptr::null_mut()
        }
    }
}

/// Takes a reference to `ctx`.
#[no_mangle]
pub extern "C" fn aio_context_ref(ctx: *mut AioContext) {
    deref("aio_context_ref", "ctx", ctx).add_ref();
}

/// Drops a reference to `ctx`, freeing it with the last one. Delete its
/// bottom halves and timers first, as in QEMU.
#[no_mangle]
pub extern "C" fn aio_context_unref(ctx: *mut AioContext) {
    let ctx = deref("aio_context_unref", "ctx", ctx);
    // SAFETY: the C caller gives up a reference it owns.
    unsafe { ctx.unref() };
}

/// Runs one iteration of `ctx`'s loop on the calling thread: scheduled
/// coroutines, bottom halves, ready fd handlers, expired timers. With
/// `blocking`, first waits until one of them is ready or `aio_notify` is
/// called. Returns true if any callback ran; aio_poll(ctx, false) with
/// nothing to do returns false at once. `ctx` must be the calling thread's
/// own context (`qemu_get_current_aio_context()`); any other aborts, as in
/// QEMU. A nested call (from a bottom half or fd handler) continues the
/// outer call's batch.
#[no_mangle]
pub extern "C" fn aio_poll(ctx: *mut AioContext, blocking: bool) -> bool {
    let ctx = deref("aio_poll", "ctx", ctx);
    aio::check_home_thread(ctx);
    ctx.poll(blocking)
}

/// Wakes `ctx`'s loop if it is blocked in aio_poll (which then returns).
#[no_mangle]
pub extern "C" fn aio_notify(ctx: *mut AioContext) {
    deref("aio_notify", "ctx", ctx).notify();
}

/// Sets the handlers of `fd` in `ctx`: `io_read(opaque)` runs while `fd` is
/// readable (or hung up), `io_write(opaque)` while it is writable, from
/// `aio_poll` on `ctx`'s thread. Level-triggered: a handler that does not
/// consume its event runs again on the next iteration. `io_poll(opaque)`
/// (ignored without `io_poll_ready`) says without a system call whether the
/// fd's event has come: with busy polling on (`aio_context_set_poll_params`)
/// a blocking aio_poll calls it in a loop once the fd's handler has run, and
/// calls `io_poll_ready(opaque)` instead of the other handlers when it
/// returns true. A call with NULL `io_read`, `io_write` and `io_poll`
/// removes `fd`. May be called from any thread.
#[no_mangle]
pub extern "C" fn aio_set_fd_handler(
    ctx: *mut AioContext,
    fd: c_int,
    io_read: *mut IOHandlerFn,
    io_write: *mut IOHandlerFn,
    io_poll: *mut AioPollFnFn,
    io_poll_ready: *mut IOHandlerFn,
    opaque: *mut c_void,
) {
    let ctx = deref("aio_set_fd_handler", "ctx", ctx);
    let io_poll_ready = c_callback!(io_poll_ready, IOHandler);
    // As in QEMU: polling without a handler for its success is no polling.
    let io_poll = c_callback!(io_poll, AioPollFn).filter(|_| io_poll_ready.is_some());
    let h = Handlers {
        io_read: c_callback!(io_read, IOHandler),
        io_write: c_callback!(io_write, IOHandler),
        io_poll,
        io_poll_ready,
        opaque: opaque as usize,
    };
    ctx.set_fd_handler(fd, h);
}

/// The main loop's fd handlers: `aio_set_fd_handler` on the main context.
/// QEMU keeps them in a separate context that only its main loop (not
/// aio_poll) runs; with no main loop here, `aio_poll` on
/// `qemu_get_aio_context()` runs them.
#[no_mangle]
pub extern "C" fn qemu_set_fd_handler(
    fd: c_int,
    fd_read: *mut IOHandlerFn,
    fd_write: *mut IOHandlerFn,
    opaque: *mut c_void,
) {
    let ctx = aio::main_context().as_ptr();
    aio_set_fd_handler(
        ctx,
        fd,
        fd_read,
        fd_write,
        ptr::null_mut(),
        ptr::null_mut(),
        opaque,
    );
}

/// Sets `ctx`'s busy polling: a blocking aio_poll busy-polls the `io_poll`
/// functions of its fds for up to each fd's poll time before it sleeps;
/// that time grows by `grow` (0: doubles) from 4 us up to `max_ns` while
/// events come within `max_ns`, and is divided by `shrink` (0: reset to 0)
/// when they come later. `max_ns` 0, the default, turns polling off. Every
/// fd's poll time starts again from 0. A negative value is an error for
/// `errp` ("poll-max-ns value must be in range [0, 9223372036854775807]",
/// as QEMU's iothread properties say) and changes nothing.
#[no_mangle]
pub extern "C" fn aio_context_set_poll_params(
    ctx: *mut AioContext,
    max_ns: i64,
    grow: i64,
    shrink: i64,
    errp: *mut *mut Error,
) {
    let ctx = deref("aio_context_set_poll_params", "ctx", ctx);
    if let Err(name) = ctx.set_poll_params(max_ns, grow, shrink) {
        set_error(
            errp,
            "aio_context_set_poll_params",
            format!("{name} value must be in range [0, {}]", i64::MAX),
        );
    }
}

/// Runs `co` in `ctx` now, on the calling thread, until it yields or
/// returns; it records `ctx` as its context. Aborts, as QEMU does, with
/// "qemu_aio_coroutine_enter: Co-routine was already scheduled in '...'"
/// if `co` is scheduled or sleeping.
#[no_mangle]
pub extern "C" fn qemu_aio_coroutine_enter(ctx: *mut AioContext, co: *mut Coroutine) {
    let ctx = deref("qemu_aio_coroutine_enter", "ctx", ctx);
    let co = deref("qemu_aio_coroutine_enter", "co", co);
    coroutine::enter(ctx.as_ptr().cast(), co);
}

/// The context `co` was last entered in (where `aio_co_wake` sends it);
/// NULL if that was on a thread with no context.
#[no_mangle]
pub extern "C" fn qemu_coroutine_get_aio_context(co: *mut Coroutine) -> *mut AioContext {
    let co = deref("qemu_coroutine_get_aio_context", "co", co);
    co.ctx.load(std::sync::atomic::Ordering::Acquire).cast()
}

/// Makes `ctx`'s loop enter `co` on its next iteration. Thread-safe: the
/// way to move a coroutine to another thread's context. Aborts with
/// "aio_co_schedule: Co-routine was already scheduled in '...'" if `co` is
/// already scheduled or sleeping.
#[no_mangle]
pub extern "C" fn aio_co_schedule(ctx: *mut AioContext, co: *mut Coroutine) {
    let ctx = deref("aio_co_schedule", "ctx", ctx);
    let co = deref("aio_co_schedule", "co", co);
    ctx.schedule(co, c"aio_co_schedule");
}

/// Enters `co` in `ctx`: at once if `ctx` is the calling thread's context
/// (from inside a coroutine: right after the running coroutine next yields
/// or returns), otherwise by scheduling it there.
#[no_mangle]
pub extern "C" fn aio_co_enter(ctx: *mut AioContext, co: *mut Coroutine) {
    let ctx = deref("aio_co_enter", "ctx", ctx);
    let co = deref("aio_co_enter", "co", co);
    aio::enter_in(ctx.as_ptr().cast(), co);
}

/// Restarts `co`, which yielded, in the context it last ran in: from any
/// thread, with `aio_co_enter`'s rules.
#[no_mangle]
pub extern "C" fn aio_co_wake(co: *mut Coroutine) {
    aio::wake(deref("aio_co_wake", "co", co));
}

/// Moves the running coroutine to `new_ctx` (its thread, if `new_ctx` is
/// another thread's) and returns there; a no-op if it is already in
/// `new_ctx`. Must be called from a coroutine.
#[no_mangle]
pub extern "C" fn aio_co_reschedule_self(new_ctx: *mut AioContext) {
    aio::reschedule_self(deref("aio_co_reschedule_self", "new_ctx", new_ctx));
}
