//! The QEMU functions full mode calls: exported by QEMU's util/ (async.c,
//! aio-posix.c) and by the C glue QEMU compiles with us
//! (qemu/coroutine-qemucoro-full.c).

use std::ffi::{c_int, c_void};

/// QEMU's `IOHandler` and `QEMUTimerCB`: `void f(void *opaque)`.
pub type Callback = unsafe extern "C" fn(opaque: *mut c_void);

/// Bytes reserved for a `QEMUTimer` on the sleeper's stack; the C glue
/// checks QEMU's size against it.
pub const TIMER_BYTES: usize = 64;

/// Storage for one `QEMUTimer`, aligned as QEMU's.
#[repr(C, align(8))]
pub struct TimerBuf(pub [u8; TIMER_BYTES]);

extern "C" {
    /// `co` is a `Coroutine *` (opaque to the FFI lint).
    pub fn aio_co_wake(co: *mut c_void);
    pub fn qemu_get_current_aio_context() -> *mut c_void;
    pub fn aio_set_fd_handler(
        ctx: *mut c_void,
        fd: c_int,
        io_read: Option<Callback>,
        io_write: Option<Callback>,
        io_poll: *mut c_void,
        io_poll_ready: Option<Callback>,
        opaque: *mut c_void,
    );
    /// Arms `ts` in the current context to call `cb(opaque)` `ns` from now
    /// on clock `clock` (glue: aio_timer_init + timer_mod).
    pub fn qemucoro_qemu_timer_start(
        ts: *mut TimerBuf,
        clock: c_int,
        ns: i64,
        cb: Callback,
        opaque: *mut c_void,
    );
    /// `timer_del(ts)`.
    pub fn qemucoro_qemu_timer_stop(ts: *mut TimerBuf);
}
