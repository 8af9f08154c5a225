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
//! The epoll data word of an fd names its registration too (epoll.rs's
//! `key`): an event that a wait collected for a registration that another
//! thread replaced before the poll took its token is not dispatched to the
//! new one (QEMU's ready list holds the old, deleted, node).
//!
//! An fd whose handler has an `io_poll` joins the busy-polled set the first
//! time it is dispatched (poll_mode.rs says when polling happens).
//!
//! Fds that epoll refuses (regular files) are not in the epoll set: each
//! poll calls all of them, after the fds epoll reported (QEMU's poll()
//! reports them ready every time).

use std::collections::HashMap;
use std::ffi::c_void;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::epoll::{self, Epoll, Event, Watched};
use super::poll_mode::Adjust;
use qemucoro_util::abort::die;
use qemucoro_util::mutex::{Mutex, MutexGuard};

/// `void IOHandler(void *opaque)`.
pub type IOHandler = unsafe extern "C" fn(opaque: *mut c_void);
/// `bool AioPollFn(void *opaque)`: whether the fd's event has come, checked
/// without a system call.
pub type AioPollFn = unsafe extern "C" fn(opaque: *mut c_void) -> bool;
/// The callbacks registered for one fd.
#[derive(Clone, Copy)]
pub struct Handlers {
    pub io_read: Option<IOHandler>,
    pub io_write: Option<IOHandler>,
    /// Busy polling; set only with `io_poll_ready`, which runs when it
    /// returns true.
    pub io_poll: Option<AioPollFn>,
    pub io_poll_ready: Option<IOHandler>,
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
    /// In the busy-polled set (dispatched once, and not inside its own
    /// io_poll_ready).
    polled: bool,
    /// How long a poll may busy-poll for this fd (poll_mode.rs).
    poll_ns: i64,
}

/// One busy-polled fd, as the loop calls it.
#[derive(Clone, Copy)]
pub struct Polled {
    pub fd: RawFd,
    pub id: u64,
    io_poll: AioPollFn,
    opaque: usize,
}

impl Polled {
    /// Calls the fd's io_poll.
    pub fn poll(&self) -> bool {
        // SAFETY: the caller of aio_set_fd_handler promised that
        // io_poll(opaque) may be called while the handler is set; the loop
        // takes its list of polled fds anew on every aio_poll.
        unsafe { (self.io_poll)(self.opaque as *mut c_void) }
    }
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
    /// How many have no io_poll: while any has none the loop must sleep in
    /// epoll to see it, and never busy-polls (QEMU's poll_disable_cnt).
    unpollable: AtomicUsize,
}

type Table<'a> = MutexGuard<'a, HashMap<RawFd, Entry>>;

impl FdHandlers {
    /// Installs `h` for `fd`, or removes the fd when it has no read, write
    /// nor poll handler (QEMU: all-NULL handlers remove the fd).
    /// `latest` is the latest poll token handed out.
    pub fn set(&self, epoll: &Epoll, fd: RawFd, h: Handlers, latest: u64) {
        let mut table = self.table.lock();
        let old = table.remove(&fd).and_then(|e| e.watched);
        let events = h.events();
        let mut stale = false;
        if events != 0 || h.io_poll.is_some() {
            let id = self.last_id.fetch_add(1, Ordering::Relaxed) + 1;
            let key = epoll::key(fd, id);
            let watched = match old {
                Some(Watched::Yes) => match epoll.modify(fd, events, key) {
                    Ok(()) => Some(Watched::Yes),
                    Err(_) => {
                        stale = true; // closed, or the number reused since
                        None
                    }
                },
                // Not in the epoll set: the number may name another file
                // now (the old one closed while registered), so look anew.
                Some(Watched::AlwaysReady) => epoll.add(fd, events, key).ok(),
                None => Some(add(epoll, fd, events, key)),
            };
            table.insert(
                fd,
                Entry {
                    h,
                    watched,
                    stamp: latest,
                    id,
                    polled: false,
                    poll_ns: 0,
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
        let unpollable = table.values().filter(|e| e.h.io_poll.is_none()).count();
        self.unpollable.store(unpollable, Ordering::Relaxed);
    }

    /// Whether every registered fd has an io_poll, so busy polling can see
    /// them all.
    pub fn all_pollable(&self) -> bool {
        self.unpollable.load(Ordering::Relaxed) == 0
    }

    /// The busy-polled fds and the longest of their poll times.
    pub fn polled(&self) -> (Vec<Polled>, i64) {
        let table = self.table.lock();
        let mut max_ns = 0;
        let mut out = Vec::new();
        for (&fd, e) in table.iter().filter(|(_, e)| e.polled) {
            if let Some(io_poll) = e.h.io_poll {
                max_ns = max_ns.max(e.poll_ns);
                out.push(Polled {
                    fd,
                    id: e.id,
                    io_poll,
                    opaque: e.h.opaque,
                });
            }
        }
        (out, max_ns)
    }

    /// Every fd polls from scratch (new parameters).
    pub fn reset_poll_times(&self) {
        for e in self.table.lock().values_mut() {
            e.poll_ns = 0;
        }
    }

    /// Adapts the poll time of registration `id` of `fd`, if it is still
    /// current and polled, after it was dispatched.
    fn adjust(&self, fd: RawFd, id: u64, adjust: Option<Adjust>) {
        let Some(adjust) = adjust else { return };
        let mut table = self.table.lock();
        if let Some(e) = table.get_mut(&fd).filter(|e| e.id == id && e.polled) {
            adjust.apply(&mut e.poll_ns);
        }
    }

    /// Runs the io_poll_ready of a polled fd whose io_poll returned true,
    /// for the poll with `token`, then adapts its poll time; true if it ran.
    /// The fd leaves the polled set during the call, so a nested aio_poll
    /// in it does not poll it again (QEMU does the same).
    pub fn dispatch_poll_ready(&self, p: &Polled, token: u64, adjust: Option<Adjust>) -> bool {
        let Some((h, id)) = self.take_ready(p.fd, token, Some(p.id as u32)) else {
            return false;
        };
        let Some(ready) = h.io_poll_ready else {
            return false;
        };
        self.set_polled(p.fd, id, false);
        // SAFETY: as for io_read in `dispatch_fd`: the registration was
        // current right now, and io_poll_ready comes with io_poll.
        unsafe { ready(h.opaque as *mut c_void) };
        self.set_polled(p.fd, id, true);
        self.adjust(p.fd, id, adjust);
        true
    }

    fn set_polled(&self, fd: RawFd, id: u64, polled: bool) {
        let mut table = self.table.lock();
        if let Some(e) = table.get_mut(&fd).filter(|e| e.id == id) {
            e.polled = polled;
        }
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
    /// Ids are compared by their low halves, all an epoll key holds.
    fn take_ready(&self, fd: RawFd, token: u64, id: Option<u32>) -> Option<(Handlers, u64)> {
        let mut table = self.table.lock();
        let e = table.get_mut(&fd)?;
        if e.stamp >= token || id.is_some_and(|id| id != e.id as u32) {
            return None;
        }
        e.stamp = token;
        // Dispatched: from now on busy-polled, if it can be.
        e.polled |= e.h.io_poll.is_some();
        Some((e.h, e.id))
    }

    /// The handlers of `fd` if registration `id` is still the current one.
    fn current(&self, fd: RawFd, id: u64) -> Option<Handlers> {
        let table = self.table.lock();
        table.get(&fd).filter(|e| e.id == id).map(|e| e.h)
    }

    /// Calls the handlers of one fd that epoll reported ready, for the poll
    /// with `token`, if the event is its current registration's; true if
    /// any ran. With `adjust`, then adapts the fd's poll time.
    pub fn dispatch(&self, ev: &Event, token: u64, adjust: Option<Adjust>) -> bool {
        let (fd, id) = epoll::unkey(ev.u64);
        self.dispatch_fd(fd, ev.events as libc::c_int, token, Some(id), adjust)
    }

    /// Calls the handlers of every always-ready fd for the poll with
    /// `token`: those registered when it starts, each while its
    /// registration lasts; true if any ran.
    pub fn dispatch_always_ready(&self, token: u64, adjust: Option<Adjust>) -> bool {
        let mut progress = false;
        for (fd, id) in self.always_ready_now() {
            let revents = libc::EPOLLIN | libc::EPOLLOUT;
            progress |= self.dispatch_fd(fd, revents, token, Some(id as u32), adjust);
        }
        progress
    }

    fn dispatch_fd(
        &self,
        fd: RawFd,
        revents: libc::c_int,
        token: u64,
        id: Option<u32>,
        adjust: Option<Adjust>,
    ) -> bool {
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
        self.adjust(fd, id, adjust);
        progress
    }
}

/// Starts watching `fd`, which was not in the epoll set.
fn add(epoll: &Epoll, fd: RawFd, events: u32, key: u64) -> Watched {
    epoll.add(fd, events, key).unwrap_or_else(|err| {
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
    let fds: Vec<(RawFd, u32, bool, u64)> = table
        .iter()
        .filter(|(&fd, e)| fd == fresh || e.watched == Some(Watched::Yes))
        .map(|(&fd, e)| (fd, e.h.events(), fd == fresh, epoll::key(fd, e.id)))
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
