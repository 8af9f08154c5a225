//! The poller under an AioContext: one epoll instance, level-triggered, and
//! the eventfd that other threads write to wake a blocking wait.
//!
//! This is the only file of the event loop that makes system calls on file
//! descriptors, so the unsafe code of the loop is here.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};

/// The epoll `data` value that marks the wake-up eventfd; fd handlers use the
/// fd itself, which is never negative.
pub const NOTIFIER_KEY: u64 = u64::MAX;

/// How many ready descriptors one wait reports at most; more simply stay
/// ready for the next wait (level-triggered).
pub const MAX_EVENTS: usize = 64;

pub type Event = libc::epoll_event;

/// Whether the kernel has epoll_pwait2 (Linux 5.11): nanosecond timeouts.
/// Called as a raw system call so that older C libraries link too.
static HAVE_PWAIT2: AtomicBool = AtomicBool::new(true);

pub struct Epoll {
    epfd: OwnedFd,
    eventfd: OwnedFd,
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

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: plain system calls with constant arguments.
        let epfd = owned(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: as above.
        let eventfd =
            owned(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        let ep = Epoll { epfd, eventfd };
        ep.ctl(libc::EPOLL_CTL_ADD, ep.eventfd.as_raw_fd(), libc::EPOLLIN as u32, NOTIFIER_KEY)?;
        Ok(ep)
    }

    /// Watches `fd` (or changes what is watched) for `events`, reported with
    /// the fd as key; `events == 0` stops watching it.
    pub fn watch(&self, fd: RawFd, events: u32, was_watched: bool) -> io::Result<()> {
        match (was_watched, events != 0) {
            (false, false) => Ok(()),
            (false, true) => self.ctl(libc::EPOLL_CTL_ADD, fd, events, fd as u64),
            (true, true) => self.ctl(libc::EPOLL_CTL_MOD, fd, events, fd as u64),
            // The fd may already be closed, which removed it from the set.
            (true, false) => self.ctl(libc::EPOLL_CTL_DEL, fd, 0, 0).or(Ok(())),
        }
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, key: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event { events, u64: key };
        // SAFETY: `ev` is a valid epoll_event for the duration of the call.
        check(unsafe { libc::epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev) }).map(drop)
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
            let ms = if timeout_ns < 0 { -1 } else { (timeout_ns + 999_999) / 1_000_000 };
            let ms = i32::try_from(ms).unwrap_or(i32::MAX);
            // SAFETY: `buf` has room for MAX_EVENTS events, which we pass.
            n = unsafe {
                libc::epoll_wait(self.epfd.as_raw_fd(), buf.as_mut_ptr(), MAX_EVENTS as i32, ms)
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
                self.epfd.as_raw_fd(),
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
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd. The only
        // possible failure, EAGAIN at a saturated counter, still leaves the
        // eventfd readable, which is all a wake-up needs.
        unsafe { libc::write(self.eventfd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// Clears a pending wake-up so that the next wait can block.
    pub fn clear_notification(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64. EAGAIN (nothing
        // pending) is fine: the counter is zero either way.
        unsafe { libc::read(self.eventfd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
    }

    /// An empty event buffer for `wait`.
    pub fn buffer() -> [Event; MAX_EVENTS] {
        [libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS]
    }
}
