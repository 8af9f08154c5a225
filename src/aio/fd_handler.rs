//! fd handlers (`aio_set_fd_handler`): which callback runs when a watched
//! descriptor becomes readable or writable.
//!
//! The table is shared: QEMU lets any thread change a context's handlers,
//! so it sits behind a mutex. Dispatch looks each ready fd up again just
//! before calling it, so that a handler removed by an earlier callback of the
//! same round is not called.

use std::collections::HashMap;
use std::ffi::c_void;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::epoll::{Epoll, Event};
use crate::util::abort::die;
use crate::util::mutex::Mutex;

/// `void IOHandler(void *opaque)`.
pub type IOHandler = unsafe extern "C" fn(opaque: *mut c_void);
/// The callbacks registered for one fd.
#[derive(Clone, Copy)]
pub struct Handlers {
    pub io_read: Option<IOHandler>,
    pub io_write: Option<IOHandler>,
    /// C's opaque pointer, stored as an address so the table is Send.
    pub opaque: usize,
}

impl Handlers {
    fn events(&self) -> u32 {
        let mut ev = 0;
        if self.io_read.is_some() {
            ev |= libc::EPOLLIN | libc::EPOLLRDHUP;
        }
        if self.io_write.is_some() {
            ev |= libc::EPOLLOUT;
        }
        ev as u32
    }
}

#[derive(Default)]
pub struct FdHandlers {
    table: Mutex<HashMap<RawFd, Handlers>>,
    /// How many fds are watched: lets a non-blocking poll skip epoll_wait.
    count: AtomicUsize,
}

impl FdHandlers {
    /// Installs `h` for `fd`, or removes the fd when it has neither a read
    /// nor a write handler (QEMU: all-NULL handlers remove the fd).
    pub fn set(&self, epoll: &Epoll, fd: RawFd, h: Handlers) {
        let mut table = self.table.lock();
        let was_watched = table.contains_key(&fd);
        if let Err(err) = epoll.watch(fd, h.events(), was_watched) {
            die(format_args!("aio_set_fd_handler: cannot watch fd {fd}: {err}"));
        }
        if h.events() == 0 {
            table.remove(&fd);
        } else {
            table.insert(fd, h);
        }
        self.count.store(table.len(), Ordering::Relaxed);
    }

    pub fn is_empty(&self) -> bool {
        self.count.load(Ordering::Relaxed) == 0
    }

    fn get(&self, fd: RawFd) -> Option<Handlers> {
        self.table.lock().get(&fd).copied()
    }

    /// Calls the handlers of one ready fd; true if any ran.
    pub fn dispatch(&self, ev: &Event) -> bool {
        let (fd, revents) = (ev.u64 as RawFd, ev.events as libc::c_int);
        let mut progress = false;
        let readable = libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR;
        if revents & readable != 0 {
            if let Some(Handlers { io_read: Some(read), opaque, .. }) = self.get(fd) {
                // SAFETY: the caller of aio_set_fd_handler promised that
                // io_read(opaque) may be called while the handler is set.
                unsafe { read(opaque as *mut c_void) };
                progress = true;
            }
        }
        if revents & (libc::EPOLLOUT | libc::EPOLLERR) != 0 {
            // Looked up again: the read handler may have changed the table.
            if let Some(Handlers { io_write: Some(write), opaque, .. }) = self.get(fd) {
                // SAFETY: as for io_read.
                unsafe { write(opaque as *mut c_void) };
                progress = true;
            }
        }
        progress
    }
}
