//! Whole transfers on non-blocking descriptors (QEMU's
//! `qemu_co_sendv_recvv` in util/qemu-coroutine-io.c): send or receive a
//! whole buffer, yielding whenever the descriptor would block. The caller's
//! own fd handler re-enters the coroutine, so no event loop is named here;
//! waiting for readability (`yield_until_fd_readable`) installs a handler
//! and belongs to the event loop.

use std::ffi::c_void;
use std::io;
use std::os::fd::RawFd;

use qemucoro_coroutine::wait::{WAIT_FD_READ, WAIT_FD_WRITE};
use qemucoro_coroutine::{self as coroutine, current};

/// One sendmsg/recvmsg of `iov` (readv/writev for non-sockets), retried on
/// EINTR.
fn transfer(fd: RawFd, iov: &mut [libc::iovec], send: bool) -> io::Result<usize> {
    loop {
        // SAFETY: a zeroed msghdr is valid; we point it at `iov`.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len() as _;
        // SAFETY: the iovecs describe buffers the C caller handed us for
        // this transfer; MSG_NOSIGNAL turns a closed peer into EPIPE.
        let mut n = unsafe {
            if send {
                libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL)
            } else {
                libc::recvmsg(fd, &mut msg, 0)
            }
        };
        if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOTSOCK) {
            let cnt = iov.len() as libc::c_int;
            // SAFETY: as above, for pipes and other non-sockets.
            n = unsafe {
                if send {
                    libc::writev(fd, iov.as_ptr(), cnt)
                } else {
                    libc::readv(fd, iov.as_ptr(), cnt)
                }
            };
        }
        if n >= 0 {
            return Ok(n as usize);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// The part of `iov` from byte `offset`, at most `bytes` long. One buffer
/// (qemu_co_send/qemu_co_recv) needs no allocation.
fn window(iov: &[libc::iovec], offset: usize, bytes: usize) -> Window {
    match iov {
        [v] if offset < v.iov_len => Window::One([libc::iovec {
            // Stays inside the caller's buffer: offset < iov_len.
            iov_base: v
                .iov_base
                .cast::<u8>()
                .wrapping_add(offset)
                .cast::<c_void>(),
            iov_len: (v.iov_len - offset).min(bytes),
        }]),
        _ => Window::Many(window_vec(iov, offset, bytes)),
    }
}

enum Window {
    One([libc::iovec; 1]),
    Many(Vec<libc::iovec>),
}

impl Window {
    fn as_mut_slice(&mut self) -> &mut [libc::iovec] {
        match self {
            Window::One(one) => one,
            Window::Many(many) => many,
        }
    }
}

fn window_vec(iov: &[libc::iovec], mut offset: usize, mut bytes: usize) -> Vec<libc::iovec> {
    let mut out = Vec::new();
    for v in iov {
        if bytes == 0 {
            break;
        }
        if offset >= v.iov_len {
            offset -= v.iov_len;
            continue;
        }
        let len = (v.iov_len - offset).min(bytes);
        // Stays inside the caller's buffer: offset < iov_len.
        let base = v
            .iov_base
            .cast::<u8>()
            .wrapping_add(offset)
            .cast::<c_void>();
        out.push(libc::iovec {
            iov_base: base,
            iov_len: len,
        });
        bytes -= len;
        offset = 0;
    }
    out
}

/// Yields until the caller's own fd handler re-enters us, recorded as a
/// wait on `fd` (outside a coroutine the yield aborts with QEMU's message).
fn wait_for(fd: RawFd, send: bool) {
    let me = current::running();
    if me.is_entered() {
        let kind = if send { WAIT_FD_WRITE } else { WAIT_FD_READ };
        me.wait
            .begin(kind, current::aio_context().cast_const(), fd as usize);
    }
    coroutine::yield_now();
    me.wait.end();
}

/// `qemu_co_sendv_recvv`: transfers `bytes` bytes of `iov` from `offset`.
/// Partial transfers continue; on EAGAIN the coroutine yields and whoever
/// re-enters it (the caller's own fd handler) resumes the transfer; EINTR
/// is retried. Returns the byte count, less at EOF, or -errno on an error
/// before any byte moved (after some, the count so far).
pub fn sendv_recvv(
    fd: RawFd,
    iov: &[libc::iovec],
    offset: usize,
    bytes: usize,
    send: bool,
) -> isize {
    let mut done = 0;
    while done < bytes {
        let mut window = window(iov, offset + done, bytes - done);
        let part = window.as_mut_slice();
        if part.is_empty() {
            break; // the iovec holds less than `bytes`
        }
        match transfer(fd, part, send) {
            Ok(0) if !send => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => wait_for(fd, send),
            Err(e) if done == 0 => return -(e.raw_os_error().unwrap_or(libc::EIO) as isize),
            Err(_) => break,
        }
    }
    done as isize
}
