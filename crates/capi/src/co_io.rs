//! C exports of whole transfers on non-blocking descriptors (QEMU's
//! `qemu/coroutine.h`): the `qemu_co_recv`/`qemu_co_send`/`qemu_co_recvv`/
//! `qemu_co_sendv` macros of the header expand to these.

use std::ffi::{c_int, c_uint, c_void};

use qemucoro_locks::co_io;
use qemucoro_util::abort::null_arg;

/// Sends (`do_send`) or receives `bytes` bytes of the `iov_cnt` buffers of
/// `iov`, starting `offset` bytes in, on the non-blocking `sockfd`.
///
/// Partial transfers continue. When `sockfd` would block, the coroutine
/// just yields: the caller's own fd handler must re-enter it (this never
/// installs handlers). EINTR is retried. Returns the number of bytes moved,
/// fewer only at EOF or after an error that followed some data; an error
/// before any byte moved returns -errno. Sends use MSG_NOSIGNAL (EPIPE, not
/// SIGPIPE); descriptors that are not sockets fall back to readv/writev.
#[no_mangle]
pub extern "C" fn qemu_co_sendv_recvv(
    sockfd: c_int,
    iov: *mut libc::iovec,
    iov_cnt: c_uint,
    offset: usize,
    bytes: usize,
    do_send: bool,
) -> libc::ssize_t {
    let iov: &[libc::iovec] = if iov_cnt == 0 {
        &[]
    } else if iov.is_null() {
        null_arg("qemu_co_sendv_recvv", "iov")
    } else {
        // SAFETY: C passes an array of iov_cnt iovecs, not NULL (checked).
        unsafe { std::slice::from_raw_parts(iov, iov_cnt as usize) }
    };
    co_io::sendv_recvv(sockfd, iov, offset, bytes, do_send)
}

/// `qemu_co_sendv_recvv` on the single buffer `buf` of `bytes` bytes.
#[no_mangle]
pub extern "C" fn qemu_co_send_recv(
    sockfd: c_int,
    buf: *mut c_void,
    bytes: usize,
    do_send: bool,
) -> libc::ssize_t {
    if buf.is_null() && bytes > 0 {
        null_arg("qemu_co_send_recv", "buf");
    }
    let iov = [libc::iovec {
        iov_base: buf,
        iov_len: bytes,
    }];
    co_io::sendv_recvv(sockfd, &iov, 0, bytes, do_send)
}
