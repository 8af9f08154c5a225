//! C exports of clocks and timers (QEMU's `qemu/timer.h`).

use std::ffi::{c_int, c_void};

use super::aio::c_callback;
use super::{deref, init};
use qemucoro_aio::timer::{QEMUClockType, QEMUTimer, QEMUTimerCB, SCALE_MS, SCALE_NS, SCALE_US};
use qemucoro_aio::{self as aio, AioContext};
use qemucoro_util::abort::{die, null_arg};

/// Stands for QEMU's function type `QEMUTimerCB` (`void QEMUTimerCB(void
/// *opaque)`); never instantiated.
#[repr(C)]
pub struct QEMUTimerCBFn {
    _opaque: [u8; 0],
}

/// The current time of `type` in nanoseconds. Aborts on a bad clock.
#[no_mangle]
pub extern "C" fn qemu_clock_get_ns(r#type: QEMUClockType) -> i64 {
    r#type.index("qemu_clock_get_ns");
    r#type.now_ns()
}

/// The current time of `type` in milliseconds.
#[no_mangle]
pub extern "C" fn qemu_clock_get_ms(r#type: QEMUClockType) -> i64 {
    qemu_clock_get_ns(r#type) / 1_000_000
}

/// The current time of `type` in microseconds.
#[no_mangle]
pub extern "C" fn qemu_clock_get_us(r#type: QEMUClockType) -> i64 {
    qemu_clock_get_ns(r#type) / 1000
}

/// Checks the arguments of a timer's setup and makes the disarmed timer.
fn make_timer(
    func: &str,
    ctx: &AioContext,
    r#type: QEMUClockType,
    scale: c_int,
    cb: *mut QEMUTimerCBFn,
    opaque: *mut c_void,
) -> QEMUTimer {
    r#type.index(func);
    let cb = c_callback!(cb, QEMUTimerCB).unwrap_or_else(|| null_arg(func, "cb"));
    QEMUTimer::new(ctx, r#type, scale, cb, opaque)
}

/// Creates a disarmed timer of `ctx` on clock `type` that calls
/// `cb(opaque)` from `ctx`'s loop when it expires. Expiry times given to
/// `timer_mod` are in units of `scale` ns (SCALE_NS, SCALE_US, SCALE_MS).
/// Free it with `timer_free`, before the context goes.
#[no_mangle]
pub extern "C" fn aio_timer_new(
    ctx: *mut AioContext,
    r#type: QEMUClockType,
    scale: c_int,
    cb: *mut QEMUTimerCBFn,
    opaque: *mut c_void,
) -> *mut QEMUTimer {
    let ctx = deref("aio_timer_new", "ctx", ctx);
    let t = make_timer("aio_timer_new", ctx, r#type, scale, cb, opaque);
    Box::into_raw(Box::new(t))
}

/// `aio_timer_new` on the main loop's context.
#[no_mangle]
pub extern "C" fn timer_new(
    r#type: QEMUClockType,
    scale: c_int,
    cb: *mut QEMUTimerCBFn,
    opaque: *mut c_void,
) -> *mut QEMUTimer {
    aio_timer_new(aio::main_context().as_ptr(), r#type, scale, cb, opaque)
}

/// `timer_new` with expiry times in nanoseconds.
#[no_mangle]
pub extern "C" fn timer_new_ns(
    r#type: QEMUClockType,
    cb: *mut QEMUTimerCBFn,
    opaque: *mut c_void,
) -> *mut QEMUTimer {
    timer_new(r#type, SCALE_NS, cb, opaque)
}

/// `timer_new` with expiry times in microseconds.
#[no_mangle]
pub extern "C" fn timer_new_us(
    r#type: QEMUClockType,
    cb: *mut QEMUTimerCBFn,
    opaque: *mut c_void,
) -> *mut QEMUTimer {
    timer_new(r#type, SCALE_US, cb, opaque)
}

/// `timer_new` with expiry times in milliseconds.
#[no_mangle]
pub extern "C" fn timer_new_ms(
    r#type: QEMUClockType,
    cb: *mut QEMUTimerCBFn,
    opaque: *mut c_void,
) -> *mut QEMUTimer {
    timer_new(r#type, SCALE_MS, cb, opaque)
}

/// Sets up the timer `ts` that the caller allocated (typically embedded in
/// a struct) as a disarmed timer of `ctx`, like `aio_timer_new` does. It
/// must not be armed; it must stay put while armed and be disarmed before
/// its memory goes (`timer_del`; `timer_deinit` also checks it). Never
/// pass it to `timer_free`.
#[no_mangle]
pub extern "C" fn aio_timer_init(
    ctx: *mut AioContext,
    ts: *mut QEMUTimer,
    r#type: QEMUClockType,
    scale: c_int,
    cb: *mut QEMUTimerCBFn,
    opaque: *mut c_void,
) {
    let c = deref("aio_timer_init", "ctx", ctx);
    let t = make_timer("aio_timer_init", c, r#type, scale, cb, opaque);
    init("aio_timer_init", "ts", ts, t);
}

/// `aio_timer_init` on the main loop's context.
#[no_mangle]
pub extern "C" fn timer_init(
    ts: *mut QEMUTimer,
    r#type: QEMUClockType,
    scale: c_int,
    cb: *mut QEMUTimerCBFn,
    opaque: *mut c_void,
) {
    let t = make_timer("timer_init", aio::main_context(), r#type, scale, cb, opaque);
    init("timer_init", "ts", ts, t);
}

/// `timer_init` with expiry times in nanoseconds.
#[no_mangle]
pub extern "C" fn timer_init_ns(
    ts: *mut QEMUTimer,
    r#type: QEMUClockType,
    cb: *mut QEMUTimerCBFn,
    opaque: *mut c_void,
) {
    timer_init(ts, r#type, SCALE_NS, cb, opaque);
}

/// `timer_init` with expiry times in microseconds.
#[no_mangle]
pub extern "C" fn timer_init_us(
    ts: *mut QEMUTimer,
    r#type: QEMUClockType,
    cb: *mut QEMUTimerCBFn,
    opaque: *mut c_void,
) {
    timer_init(ts, r#type, SCALE_US, cb, opaque);
}

/// `timer_init` with expiry times in milliseconds.
#[no_mangle]
pub extern "C" fn timer_init_ms(
    ts: *mut QEMUTimer,
    r#type: QEMUClockType,
    cb: *mut QEMUTimerCBFn,
    opaque: *mut c_void,
) {
    timer_init(ts, r#type, SCALE_MS, cb, opaque);
}

/// Undoes `timer_init` on a disarmed timer (aborts if it is armed); it can
/// be set up again afterwards. The memory stays the caller's.
#[no_mangle]
pub extern "C" fn timer_deinit(ts: *mut QEMUTimer) {
    if ts.is_null() {
        null_arg("timer_deinit", "ts");
    }
    // SAFETY: non-NULL, and C passes a timer it owns, not in use elsewhere
    // while it is being deinitialised (QEMU's contract too).
    unsafe { (*ts).deinit() };
}

/// Arms `ts` to expire at `expire_time` (in the timer's scale), or earlier
/// if it is already armed to expire sooner: it never moves later.
#[no_mangle]
pub extern "C" fn timer_mod_anticipate(ts: *mut QEMUTimer, expire_time: i64) {
    deref("timer_mod_anticipate", "ts", ts).anticipate(expire_time);
}

/// Like `timer_mod_anticipate`, with `expire_time` in nanoseconds.
#[no_mangle]
pub extern "C" fn timer_mod_anticipate_ns(ts: *mut QEMUTimer, expire_time: i64) {
    deref("timer_mod_anticipate_ns", "ts", ts).anticipate_ns(expire_time);
}

/// Arms `ts` to expire at `expire_time` (in the timer's scale, on its
/// clock), replacing any earlier expiry. Thread-safe.
#[no_mangle]
pub extern "C" fn timer_mod(ts: *mut QEMUTimer, expire_time: i64) {
    deref("timer_mod", "ts", ts).arm(expire_time);
}

/// Like `timer_mod`, with `expire_time` in nanoseconds.
#[no_mangle]
pub extern "C" fn timer_mod_ns(ts: *mut QEMUTimer, expire_time: i64) {
    deref("timer_mod_ns", "ts", ts).arm_ns(expire_time);
}

/// Disarms `ts`; its callback will not run unless it is armed again.
#[no_mangle]
pub extern "C" fn timer_del(ts: *mut QEMUTimer) {
    deref("timer_del", "ts", ts).disarm();
}

/// Disarms and frees `ts`, which must come from `timer_new*` or
/// `aio_timer_new`; NULL is ignored.
#[no_mangle]
pub extern "C" fn timer_free(ts: *mut QEMUTimer) {
    if ts.is_null() {
        return;
    }
    // SAFETY: non-NULL timers come from aio_timer_new's Box and are freed
    // once, by their owner, who disarms them here first.
    unsafe {
        (*ts).disarm();
        drop(Box::from_raw(ts));
    }
}

/// Whether `ts` is armed and has not fired yet.
#[no_mangle]
pub extern "C" fn timer_pending(ts: *mut QEMUTimer) -> bool {
    deref("timer_pending", "ts", ts).pending()
}

/// The expiry of `ts` in nanoseconds, or -1 if it is not armed.
#[no_mangle]
pub extern "C" fn timer_expire_time_ns(ts: *mut QEMUTimer) -> i64 {
    deref("timer_expire_time_ns", "ts", ts).expire_ns()
}

/// QEMU's `init_clocks`: the clocks need no set-up here, so this does
/// nothing. `notify_cb`, which QEMU calls when a main-loop timer changes,
/// must be NULL: the main loop's timers are the main context's here, and
/// aio_notify is what wakes it.
#[no_mangle]
pub extern "C" fn init_clocks(
    notify_cb: Option<unsafe extern "C" fn(opaque: *mut c_void, r#type: QEMUClockType)>,
) {
    if notify_cb.is_some() {
        die(format_args!(
            "init_clocks: a notify callback is not supported (pass NULL)"
        ));
    }
}
