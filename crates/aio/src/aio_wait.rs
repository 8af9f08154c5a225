//! Waiting for a condition by running an event loop (QEMU's
//! `block/aio-wait.h`): `AIO_WAIT_WHILE` polls until the condition is
//! false, and `aio_wait_kick` wakes such waiters after another thread has
//! changed what they are waiting for.
//!
//! The loop a waiter polls is `ctx`'s if the caller runs in it, otherwise
//! the main loop's, which the caller must then be running (QEMU asserts the
//! same; without a BQL here, "in the main loop" means on its thread). A
//! kick wakes the main loop only: a waiter in another context is woken by
//! whatever changes its condition there, as in QEMU.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{fence, AtomicBool, AtomicU32, Ordering};

use super::{bh, current_context, main_context, AioContext};
use qemucoro_util::abort::die;
use qemucoro_util::sanitizer;

/// How many `AIO_WAIT_WHILE` loops are running, in every thread.
static WAITERS: AtomicU32 = AtomicU32::new(0);

/// Starts a wait: counts the waiter before its condition is first read,
/// and returns the context it must poll.
pub fn begin(ctx: Option<&AioContext>) -> &AioContext {
    WAITERS.fetch_add(1, Ordering::Relaxed);
    // Pairs with the fence in `kick`: either the kicker sees us counted or
    // we see the condition it changed.
    fence(Ordering::SeqCst);
    let current = current_context();
    match ctx {
        Some(c) if current.is_some_and(|cur| ptr::eq(cur, c)) => c,
        _ => {
            let main = main_context();
            if !current.is_some_and(|cur| ptr::eq(cur, main)) {
                WAITERS.fetch_sub(1, Ordering::Relaxed);
                die(format_args!(
                    "AIO_WAIT_WHILE: called outside the context it waits for \
                     and outside the main loop"
                ));
            }
            main
        }
    }
}

/// Ends a wait started by `begin`.
pub fn end() {
    WAITERS.fetch_sub(1, Ordering::Relaxed);
}

unsafe extern "C" fn nothing(_opaque: *mut c_void) {}

/// `aio_wait_kick`: makes the main loop's waiters look at their conditions
/// again. Cheap when nobody waits.
pub fn kick() {
    // Pairs with the fence in `begin`.
    fence(Ordering::SeqCst);
    if WAITERS.load(Ordering::Relaxed) != 0 {
        // A bottom half that does nothing: running it is progress, so the
        // waiter's blocking aio_poll returns and it re-reads its condition.
        bh::schedule_oneshot(main_context(), nothing, ptr::null_mut(), c"aio_wait_kick");
    }
}

/// One `aio_wait_bh_oneshot`: lives on the waiter's stack until `done`.
struct OneShot {
    cb: bh::QEMUBHFunc,
    opaque: *mut c_void,
    done: AtomicBool,
}

unsafe extern "C" fn run_oneshot(opaque: *mut c_void) {
    // SAFETY: `bh_oneshot` waits until `done` before its OneShot goes.
    let o = unsafe { &*opaque.cast::<OneShot>() };
    // SAFETY: the caller of aio_wait_bh_oneshot promised cb(opaque) valid.
    unsafe { (o.cb)(o.opaque) };
    // TSan builds: what the callback wrote happens before the wait ends.
    sanitizer::release(ptr::from_ref(&o.done).cast());
    o.done.store(true, Ordering::Release);
    kick();
}

/// `aio_wait_bh_oneshot`: runs `cb(opaque)` in `ctx` and waits, in the
/// main loop, until it has run. Called from the main loop's thread.
pub fn bh_oneshot(ctx: &AioContext, cb: bh::QEMUBHFunc, opaque: *mut c_void) {
    let main = main_context();
    if !current_context().is_some_and(|cur| ptr::eq(cur, main)) {
        die(format_args!(
            "aio_wait_bh_oneshot: must be called from the main loop's thread"
        ));
    }
    let o = OneShot {
        cb,
        opaque,
        done: AtomicBool::new(false),
    };
    let arg = ptr::from_ref(&o).cast_mut().cast();
    bh::schedule_oneshot(ctx, run_oneshot, arg, c"aio_wait_bh_oneshot");
    let poll = begin(None);
    while !o.done.load(Ordering::Acquire) {
        poll.poll(true);
    }
    sanitizer::acquire(ptr::from_ref(&o.done).cast());
    end();
}
