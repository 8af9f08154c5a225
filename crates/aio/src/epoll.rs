//! The poller under an AioContext: one epoll instance, level-triggered, and
//! the eventfd that other threads write to wake a blocking wait. An fd that
//! epoll refuses is reported as always ready (what poll() says of it), and
//! a registration that may have outlived its fd is cured by replacing the
//! instance (QEMU falls back to poll() for both).
//!
//! This is the only file of the event loop that makes system calls on file
//! descriptors, so the unsafe code of the loop is here.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use qemucoro_util::mutex::Mutex;
use qemucoro_util::sanitizer::{acquire, release};

/// The epoll `data` value that marks the wake-up eventfd; fd handlers use
/// `key`, whose low half, the fd, is never all ones.
pub const NOTIFIER_KEY: u64 = u64::MAX;

/// The epoll `data` value of an fd's registration: the fd in the low half,
/// the low half of the registration's id in the high half, so that an event
/// that epoll collected for a registration is never taken for a later one
/// on the same number (ids repeat only after 2^32 registrations).
pub fn key(fd: RawFd, id: u64) -> u64 {
    (id << 32) | u64::from(fd as u32)
}

/// The fd and the id's low half of a `key`.
pub fn unkey(key: u64) -> (RawFd, u32) {
    (key as u32 as RawFd, (key >> 32) as u32)
}

/// How many ready descriptors one wait reports at most; more simply stay
/// ready for the next wait (level-triggered).
pub const MAX_EVENTS: usize = 64;

pub type Event = libc::epoll_event;

/// Whether the kernel has epoll_pwait2 (Linux 5.11): nanosecond timeouts.
/// Called as a raw system call so that older C libraries link too.
static HAVE_PWAIT2: AtomicBool = AtomicBool::new(true);

pub struct Epoll {
    /// The epoll instance. Replaced (see `rebuild`) when a registration
    /// may have outlived its fd; owned by this struct (closed on drop).
    epfd: AtomicI32,
    /// Instances replaced while the home thread may still be waiting on
    /// them; it closes them at the start of its next poll.
    retired: Mutex<Vec<OwnedFd>>,
    /// Whether `retired` is non-empty: the loop's check costs no lock.
    any_retired: AtomicBool,
    eventfd: OwnedFd,
    /// Raised by `notify` before it writes the eventfd, lowered by
    /// `clear_notification` before it reads it: a busy-polling loop sees a
    /// wake-up without a system call.
    kicked: AtomicBool,
}

/// How `watch` went for an fd.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Watched {
    /// In the epoll set.
    Yes,
    /// epoll refuses it (EPERM: regular files, /dev/null): poll() would
    /// report it always ready, and so does the loop.
    AlwaysReady,
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn owned(ret: libc::c_int) -> io::Result<OwnedFd> {
    let fd = check(ret)?;
    // SAFETY: the kernel just returned this new descriptor; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn new_epoll(eventfd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: a plain system call with a constant argument.
    let epfd = owned(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    ctl(
        epfd.as_raw_fd(),
        libc::EPOLL_CTL_ADD,
        eventfd,
        libc::EPOLLIN as u32,
        NOTIFIER_KEY,
    )?;
    Ok(epfd)
}

fn ctl(epfd: RawFd, op: libc::c_int, fd: RawFd, events: u32, key: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: key };
    // SAFETY: `ev` is a valid epoll_event for the duration of the call.
    check(unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) }).map(drop)
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: the current instance is ours alone (see `epfd`).
        drop(unsafe { OwnedFd::from_raw_fd(self.epfd.load(Ordering::Relaxed)) });
    }
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: a plain system call with constant arguments.
        let eventfd = owned(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        let epfd = new_epoll(eventfd.as_raw_fd())?;
        Ok(Epoll {
            epfd: AtomicI32::new(std::os::fd::IntoRawFd::into_raw_fd(epfd)),
            retired: Mutex::new(Vec::new()),
            any_retired: AtomicBool::new(false),
            eventfd,
            kicked: AtomicBool::new(false),
        })
    }

    /// Starts watching `fd` for `events`, reported with `key`.
    pub fn add(&self, fd: RawFd, events: u32, key: u64) -> io::Result<Watched> {
        match self.ctl(libc::EPOLL_CTL_ADD, fd, events, key) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(Watched::AlwaysReady),
            r => r.map(|()| Watched::Yes),
        }
    }

    /// Changes the events and key of a watched `fd`.
    pub fn modify(&self, fd: RawFd, events: u32, key: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, events, key)
    }

    /// Stops watching `fd`. Fails if the fd was closed (or its number
    /// reused) since it was added: the registration may then live on with
    /// the file, and only `rebuild` gets rid of it.
    pub fn remove(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    /// Replaces the epoll instance by a fresh one watching `fds` (fd,
    /// events, fresh, key): the cure for a registration that outlived its fd (a
    /// closed fd whose file is still open elsewhere keeps reporting events
    /// under its old number, and cannot be removed by that number). A fresh
    /// fd is added as it is; any other only if the old instance still
    /// watches it under its number, that is if the number still names the
    /// file it was added with (epoll knows a registration by file and
    /// number). Returns how each fd went: one left out, closed or not the
    /// same file, is None.
    /// Any thread may call it (under the caller's table lock); the old
    /// instance is closed by the home thread (`close_retired`).
    pub fn rebuild(&self, fds: &[(RawFd, u32, bool, u64)]) -> io::Result<Vec<Option<Watched>>> {
        // The new instance may take the number of one the home thread
        // closed (close_retired): its close happens before our create.
        acquire(self.sync_addr());
        let epfd = new_epoll(self.eventfd.as_raw_fd())?;
        let old_epfd = self.epfd.load(Ordering::Acquire);
        let mut out = Vec::with_capacity(fds.len());
        for &(fd, events, fresh, key) in fds {
            let same_file = fresh || ctl(old_epfd, libc::EPOLL_CTL_MOD, fd, events, key).is_ok();
            out.push(if !same_file {
                None
            } else {
                match ctl(epfd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, events, key) {
                    Ok(()) => Some(Watched::Yes),
                    Err(e) if e.raw_os_error() == Some(libc::EPERM) => Some(Watched::AlwaysReady),
                    Err(_) => None,
                }
            });
        }
        release(self.sync_addr());
        let old = self
            .epfd
            .swap(std::os::fd::IntoRawFd::into_raw_fd(epfd), Ordering::AcqRel);
        // SAFETY: `old` was the current instance, ours alone; it is closed
        // only after the home thread has stopped waiting on it.
        self.retired
            .lock()
            .push(unsafe { OwnedFd::from_raw_fd(old) });
        self.any_retired.store(true, Ordering::Release);
        // A wait on the old instance ends (the eventfd is in both), and the
        // next one uses the new instance.
        self.notify();
        Ok(out)
    }

    /// Closes replaced instances; called by the home thread before it
    /// waits, so never while it waits on one of them.
    pub fn close_retired(&self) {
        // A plain load first: this runs on every iteration of the loop.
        if self.any_retired.load(Ordering::Relaxed)
            && self.any_retired.swap(false, Ordering::AcqRel)
        {
            self.retired.lock().clear();
            release(self.sync_addr());
        }
    }

    /// The current instance, for a call on it. The number is handed from
    /// `rebuild` to the waiter through `epfd`, an atomic TSan does not see
    /// (this crate is not instrumented), so the hand-off is told to it:
    /// else the waiter's epoll_wait on a fresh instance races the
    /// epoll_create1 that made it, to TSan's eyes. No-ops outside TSan
    /// builds.
    #[inline(always)]
    fn current(&self) -> RawFd {
        let fd = self.epfd.load(Ordering::Acquire);
        acquire(self.sync_addr());
        fd
    }

    /// The address TSan's hand-offs of the instance are keyed on.
    fn sync_addr(&self) -> *const u8 {
        ptr::from_ref(&self.epfd).cast()
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, key: u64) -> io::Result<()> {
        ctl(self.current(), op, fd, events, key)
    }

    /// The epoll instance's fd, for a poller outside (GLib's main loop):
    /// readable while some watched fd is ready or a wake-up is pending.
    pub fn fd(&self) -> RawFd {
        self.current()
    }

    /// Waits up to `timeout_ns` (-1: forever) and returns the ready events.
    pub fn wait<'a>(&self, buf: &'a mut [Event; MAX_EVENTS], timeout_ns: i64) -> &'a [Event] {
        let mut n = -1;
        if timeout_ns > 0 && HAVE_PWAIT2.load(Ordering::Relaxed) {
            n = self.wait_ns(buf, timeout_ns);
            if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
                HAVE_PWAIT2.store(false, Ordering::Relaxed);
            } else {
                return &buf[..n.max(0) as usize];
            }
        }
        if n < 0 {
            // Rounded up, as QEMU does without epoll_pwait2: never early.
            let ms = if timeout_ns < 0 {
                -1
            } else {
                (timeout_ns + 999_999) / 1_000_000
            };
            let ms = i32::try_from(ms).unwrap_or(i32::MAX);
            // SAFETY: `buf` has room for MAX_EVENTS events, which we pass.
            n = unsafe {
                libc::epoll_wait(self.current(), buf.as_mut_ptr(), MAX_EVENTS as i32, ms)
            };
        }
        // EINTR (a signal) is an empty wait; nothing else can fail with a
        // valid epoll fd and buffer.
        &buf[..n.max(0) as usize]
    }

    fn wait_ns(&self, buf: &mut [Event; MAX_EVENTS], timeout_ns: i64) -> i32 {
        let ts = libc::timespec {
            tv_sec: timeout_ns / 1_000_000_000,
            tv_nsec: timeout_ns % 1_000_000_000,
        };
        // SAFETY: epoll_pwait2(epfd, events, maxevents, timeout, sigmask,
        // sigsetsize): `buf` has room for MAX_EVENTS events, `ts` is live,
        // and a NULL sigmask leaves the signal mask alone.
        let n = unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                self.current(),
                buf.as_mut_ptr(),
                MAX_EVENTS as libc::c_int,
                &ts as *const libc::timespec,
                ptr::null::<libc::sigset_t>(),
                0usize,
            )
        };
        n as i32
    }

    /// Wakes a thread blocked in `wait` (or makes its next wait return).
    pub fn notify(&self) {
        // Release: a busy poller that sees the flag sees the waker's work.
        self.kicked.store(true, Ordering::Release);
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd. The only
        // possible failure, EAGAIN at a saturated counter, still leaves the
        // eventfd readable, which is all a wake-up needs.
        unsafe { libc::write(self.eventfd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Clears a pending wake-up so that the next wait can block.
    pub fn clear_notification(&self) {
        self.kicked.store(false, Ordering::Relaxed);
        let mut count: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64. EAGAIN (nothing
        // pending) is fine: the counter is zero either way.
        unsafe { libc::read(self.eventfd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
    }

    /// Whether a wake-up may be pending (see `kicked`).
    pub fn kicked(&self) -> bool {
        self.kicked.load(Ordering::Acquire)
    }

    /// An empty event buffer for `wait`.
    pub fn buffer() -> [Event; MAX_EVENTS] {
        [libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS]
    }
}
