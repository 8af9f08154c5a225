//! Hooks for libqemucoro-glib (glib/aio-gsource.c), which makes a context
//! a GLib event source: QEMU's GSource callbacks, split so that the core
//! library never links GLib. Programs call `aio_get_g_source` (declared in
//! block/aio-glib.h), not these.

use std::ffi::{c_int, c_void};

use super::deref;
use qemucoro_aio::{self as aio, AioContext};
use qemucoro_util::abort::{die, null_arg};

/// Aborts unless `ctx` is the calling thread's own context: the GSource
/// runs the context's callbacks and coroutines, which aio_poll allows on
/// that thread only.
fn check_home(func: &str, ctx: &AioContext) {
    if aio::current_context().map(AioContext::as_ptr) != Some(ctx.as_ptr()) {
        die(format_args!(
            "{func}: the AioContext's GSource runs on a thread whose context is another"
        ));
    }
}

/// Returns `ctx`'s GSource (as `void *`): made by `create(ctx)` on the first
/// call, the same one afterwards; `release(source)` is called when `ctx`'s
/// last reference is dropped. For libqemucoro-glib.
#[no_mangle]
pub extern "C" fn qemucoro_gsource_get(
    ctx: *mut AioContext,
    create: Option<unsafe extern "C" fn(ctx: *mut AioContext) -> *mut c_void>,
    release: Option<unsafe extern "C" fn(source: *mut c_void)>,
) -> *mut c_void {
    let func = "qemucoro_gsource_get";
    let ctx = deref(func, "ctx", ctx);
    let create = create.unwrap_or_else(|| null_arg(func, "create"));
    let release = release.unwrap_or_else(|| null_arg(func, "release"));
    // SAFETY: the GLib library passes a constructor for this context.
    ctx.gsource(|| unsafe { create(ctx.as_ptr()) }, release)
}

/// GSource prepare for `ctx`: stores in `*fd` the fd to poll for reading
/// and returns the longest sleep in ns (0: ready now, -1: no limit). Until
/// the matching check or dispatch, `aio_notify` writes the context's
/// eventfd. On `ctx`'s home thread only. For libqemucoro-glib.
#[no_mangle]
pub extern "C" fn qemucoro_gsource_prepare(ctx: *mut AioContext, fd: *mut c_int) -> i64 {
    let func = "qemucoro_gsource_prepare";
    let ctx = deref(func, "ctx", ctx);
    check_home(func, ctx);
    if fd.is_null() {
        null_arg(func, "fd");
    }
    let (timeout, epfd) = ctx.gsource_prepare();
    // SAFETY: a non-NULL fd points to the caller's int.
    unsafe { fd.write(epfd) };
    timeout
}

/// GSource check for `ctx`, after the poll: true if bottom halves,
/// scheduled coroutines or expired timers are waiting, or `fd_ready` (the
/// poll found prepare's fd readable). For libqemucoro-glib.
#[no_mangle]
pub extern "C" fn qemucoro_gsource_check(ctx: *mut AioContext, fd_ready: bool) -> bool {
    deref("qemucoro_gsource_check", "ctx", ctx).gsource_check(fd_ready)
}

/// GSource dispatch for `ctx`: one non-blocking iteration of its loop
/// (`aio_poll(ctx, false)`). On `ctx`'s home thread only. For
/// libqemucoro-glib.
#[no_mangle]
pub extern "C" fn qemucoro_gsource_dispatch(ctx: *mut AioContext) {
    let func = "qemucoro_gsource_dispatch";
    let ctx = deref(func, "ctx", ctx);
    check_home(func, ctx);
    ctx.gsource_dispatch();
}
