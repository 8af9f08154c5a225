//! fd handlers (`aio_set_fd_handler`): which callback runs when a watched
//! descriptor becomes readable or writable.
//!
//! The table is shared: QEMU lets any thread change a context's handlers,
//! so it sits behind a mutex. Each `aio_poll` that found fds ready numbers
//! itself with a token larger than any before (nested polls come later, so
//! theirs are larger), and every fd carries a stamp: the token of the last
//! poll that called it, or the latest token when its handlers changed. A
//! poll calls an fd only if the stamp is older than its own token: a nested
//! `aio_poll` that already called the fd leaves a newer stamp, so the outer
//! round does not call it again for its stale event, and a handler changed
//! after the wait is not called for an event of the old one (QEMU's ready
//! list, at no cost beyond the lookup dispatch makes anyway).

use std::collections::HashMap;
use std::ffi::c_void;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::epoll::{Epoll, Event, Watched, MAX_EVENTS};
use crate::util::abort::die;
use crate::util::mutex::{Mutex, MutexGuard};

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

struct Entry {
    h: Handlers,
    /// How the fd is watched; None: closed, nothing to watch.
    watched: Option<Watched>,
    /// See the top of the file.
    stamp: u64,
}

#[derive(Default)]
pub struct FdHandlers {
    table: Mutex<HashMap<RawFd, Entry>>,
    /// How many fds are registered: lets a non-blocking poll skip epoll_wait.
    count: AtomicUsize,
    /// How many of them epoll refuses (always ready): a poll never sleeps.
    always_ready: AtomicUsize,
}

type Table<'a> = MutexGuard<'a, HashMap<RawFd, Entry>>;

impl FdHandlers {
    /// Installs `h` for `fd`, or removes the fd when it has neither a read
    /// nor a write handler (QEMU: all-NULL handlers remove the fd).
    /// `latest` is the latest poll token handed out.
    pub fn set(&self, epoll: &Epoll, fd: RawFd, h: Handlers, latest: u64) {
        let mut table = self.table.lock();
        let old = table.remove(&fd).and_then(|e| e.watched);
        let events = h.events();
        let mut stale = false;
        if events != 0 {
            let watched = match old {
                Some(Watched::Yes) => match epoll.modify(fd, events) {
                    Ok(()) => Some(Watched::Yes),
                    Err(_) => {
                        stale = true; // closed, or the number reused since
                        None
                    }
                },
                Some(Watched::AlwaysReady) => Some(Watched::AlwaysReady),
                None => match epoll.add(fd, events) {
                    Ok(w) => Some(w),
                    Err(err) => die(format_args!(
                        "aio_set_fd_handler: cannot watch fd {fd}: {err}"
                    )),
                },
            };
            table.insert(
                fd,
                Entry {
                    h,
                    watched,
                    stamp: latest,
                },
            );
        } else if old == Some(Watched::Yes) && epoll.remove(fd).is_err() {
            stale = true;
        }
        if stale {
            rebuild(epoll, &mut table, latest);
        }
        self.count.store(table.len(), Ordering::Relaxed);
        let always = table
            .values()
            .filter(|e| e.watched == Some(Watched::AlwaysReady))
            .count();
        self.always_ready.store(always, Ordering::Relaxed);
    }

    pub fn is_empty(&self) -> bool {
        self.count.load(Ordering::Relaxed) == 0
    }

    /// Whether some fd is always ready, so that a poll must not sleep.
    pub fn any_always_ready(&self) -> bool {
        self.always_ready.load(Ordering::Relaxed) != 0
    }

    /// Appends an event for each always-ready fd to the `n` events in
    /// `buf` (room permitting) and returns the new count.
    pub fn add_always_ready(&self, buf: &mut [Event; MAX_EVENTS], mut n: usize) -> usize {
        let table = self.table.lock();
        for (&fd, e) in table.iter() {
            if e.watched == Some(Watched::AlwaysReady) && n < MAX_EVENTS {
                let events = e.h.events() & (libc::EPOLLIN | libc::EPOLLOUT) as u32;
                buf[n] = Event {
                    events,
                    u64: fd as u64,
                };
                n += 1;
            }
        }
        n
    }

    /// The handlers of `fd` if no poll newer than `token` called it and
    /// they did not change since; stamps it as called by `token`.
    fn take_ready(&self, fd: RawFd, token: u64) -> Option<Handlers> {
        let mut table = self.table.lock();
        let e = table.get_mut(&fd)?;
        if e.stamp >= token {
            return None;
        }
        e.stamp = token;
        Some(e.h)
    }

    fn get(&self, fd: RawFd) -> Option<Handlers> {
        self.table.lock().get(&fd).map(|e| e.h)
    }

    /// Calls the handlers of one ready fd for the poll with `token`; true
    /// if any ran.
    pub fn dispatch(&self, ev: &Event, token: u64) -> bool {
        let (fd, revents) = (ev.u64 as RawFd, ev.events as libc::c_int);
        let Some(h) = self.take_ready(fd, token) else {
            return false;
        };
        let mut progress = false;
        let readable = libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR;
        if revents & readable != 0 {
            if let Handlers {
                io_read: Some(read),
                opaque,
                ..
            } = h
            {
                // SAFETY: the caller of aio_set_fd_handler promised that
                // io_read(opaque) may be called while the handler is set.
                unsafe { read(opaque as *mut c_void) };
                progress = true;
            }
        }
        if revents & (libc::EPOLLOUT | libc::EPOLLERR) != 0 {
            // Looked up again: the read handler may have changed the table.
            if let Some(Handlers {
                io_write: Some(write),
                opaque,
                ..
            }) = self.get(fd)
            {
                // SAFETY: as for io_read.
                unsafe { write(opaque as *mut c_void) };
                progress = true;
            }
        }
        progress
    }
}

/// Replaces the epoll instance with one watching exactly the table's fds.
fn rebuild(epoll: &Epoll, table: &mut Table<'_>, latest: u64) {
    let fds: Vec<(RawFd, u32)> = table.iter().map(|(&fd, e)| (fd, e.h.events())).collect();
    let outcome = epoll.rebuild(&fds).unwrap_or_else(|err| {
        die(format_args!(
            "aio_set_fd_handler: cannot renew the epoll set: {err}"
        ))
    });
    for (&(fd, _), w) in fds.iter().zip(outcome) {
        if let Some(e) = table.get_mut(&fd) {
            e.watched = w;
            e.stamp = latest;
        }
    }
}
