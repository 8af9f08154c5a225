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
//!
//! Every registration also gets an id of its own. A handler is called only
//! if, right before the call, its registration is still the fd's current
//! one (QEMU checks that the handler's node is not deleted): handlers that a
//! read handler installs for its own fd, or for a new file that took the
//! number, are not called for the old registration's events.
//!
//! Fds that epoll refuses (regular files) are not in the epoll set: each
//! poll calls all of them, after the fds epoll reported (QEMU's poll()
//! reports them ready every time).

use std::collections::HashMap;
use std::ffi::c_void;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::epoll::{Epoll, Event, Watched};
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
    /// This registration's id (see the top of the file).
    id: u64,
}

#[derive(Default)]
pub struct FdHandlers {
    table: Mutex<HashMap<RawFd, Entry>>,
    /// The last registration id handed out.
    last_id: AtomicU64,
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
                // Not in the epoll set: the number may name another file
                // now (the old one closed while registered), so look anew.
                Some(Watched::AlwaysReady) => epoll.add(fd, events).ok(),
                None => Some(add(epoll, fd, events)),
            };
            let id = self.last_id.fetch_add(1, Ordering::Relaxed) + 1;
            table.insert(
                fd,
                Entry {
                    h,
                    watched,
                    stamp: latest,
                    id,
                },
            );
        } else if old == Some(Watched::Yes) && epoll.remove(fd).is_err() {
            stale = true;
        }
        if stale {
            rebuild(epoll, &mut table, fd, latest);
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

    /// The always-ready fds with their registration ids, as they are now.
    fn always_ready_now(&self) -> Vec<(RawFd, u64)> {
        let table = self.table.lock();
        table
            .iter()
            .filter(|(_, e)| e.watched == Some(Watched::AlwaysReady))
            .map(|(&fd, e)| (fd, e.id))
            .collect()
    }

    /// The handlers of `fd` if no poll newer than `token` called it, they
    /// did not change since, and (with `id`) they are that registration's;
    /// stamps it as called by `token`.
    fn take_ready(&self, fd: RawFd, token: u64, id: Option<u64>) -> Option<(Handlers, u64)> {
        let mut table = self.table.lock();
        let e = table.get_mut(&fd)?;
        if e.stamp >= token || id.is_some_and(|id| id != e.id) {
            return None;
        }
        e.stamp = token;
        Some((e.h, e.id))
    }

    /// The handlers of `fd` if registration `id` is still the current one.
    fn current(&self, fd: RawFd, id: u64) -> Option<Handlers> {
        let table = self.table.lock();
        table.get(&fd).filter(|e| e.id == id).map(|e| e.h)
    }

    /// Calls the handlers of one fd that epoll reported ready, for the poll
    /// with `token`; true if any ran.
    pub fn dispatch(&self, ev: &Event, token: u64) -> bool {
        self.dispatch_fd(ev.u64 as RawFd, ev.events as libc::c_int, token, None)
    }

    /// Calls the handlers of every always-ready fd for the poll with
    /// `token`: those registered when it starts, each while its
    /// registration lasts; true if any ran.
    pub fn dispatch_always_ready(&self, token: u64) -> bool {
        let mut progress = false;
        for (fd, id) in self.always_ready_now() {
            let revents = libc::EPOLLIN | libc::EPOLLOUT;
            progress |= self.dispatch_fd(fd, revents, token, Some(id));
        }
        progress
    }

    fn dispatch_fd(&self, fd: RawFd, revents: libc::c_int, token: u64, id: Option<u64>) -> bool {
        let Some((h, id)) = self.take_ready(fd, token, id) else {
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
                // io_read(opaque) may be called while the handler is set,
                // and take_ready just found it set.
                unsafe { read(opaque as *mut c_void) };
                progress = true;
            }
        }
        if revents & (libc::EPOLLOUT | libc::EPOLLERR) != 0 {
            // Looked up again: the read handler may have changed the table,
            // and then this registration's event is over.
            if let Some(Handlers {
                io_write: Some(write),
                opaque,
                ..
            }) = self.current(fd, id)
            {
                // SAFETY: as for io_read.
                unsafe { write(opaque as *mut c_void) };
                progress = true;
            }
        }
        progress
    }
}

/// Starts watching `fd`, which was not in the epoll set.
fn add(epoll: &Epoll, fd: RawFd, events: u32) -> Watched {
    epoll.add(fd, events).unwrap_or_else(|err| {
        die(format_args!(
            "aio_set_fd_handler: cannot watch fd {fd}: {err}"
        ))
    })
}

/// Replaces the epoll instance with one watching the table's fds: `fresh`
/// (just registered) and every other fd that still names the file it was
/// registered with. One closed while registered is left unwatched, never
/// re-armed on a file that took its number since (whose events its stale
/// handler would take).
fn rebuild(epoll: &Epoll, table: &mut Table<'_>, fresh: RawFd, latest: u64) {
    let fds: Vec<(RawFd, u32, bool)> = table
        .iter()
        .filter(|(&fd, e)| fd == fresh || e.watched == Some(Watched::Yes))
        .map(|(&fd, e)| (fd, e.h.events(), fd == fresh))
        .collect();
    let outcome = epoll.rebuild(&fds).unwrap_or_else(|err| {
        die(format_args!(
            "aio_set_fd_handler: cannot renew the epoll set: {err}"
        ))
    });
    for (&(fd, ..), w) in fds.iter().zip(outcome) {
        if let Some(e) = table.get_mut(&fd) {
            e.watched = w;
            e.stamp = latest;
        }
    }
}
