//! C export of waiting for a readable descriptor in our AioContext; the
//! whole transfers are qemucoro-capi's.

use std::ffi::c_int;

use qemucoro_aio::co_io;

/// Yields the running coroutine until `fd` is readable: installs a read
/// handler for `fd` in the current context that removes itself and
/// re-enters the coroutine. Replaces any handler `fd` had there.
#[no_mangle]
pub extern "C" fn yield_until_fd_readable(fd: c_int) {
    co_io::yield_until_fd_readable(fd);
}
