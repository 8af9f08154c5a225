//! The context's side of its GLib event source (libqemucoro-glib, QEMU's
//! aio_ctx_prepare, aio_ctx_check and aio_ctx_dispatch in util/async.c):
//! GLib's main loop runs the context in three steps around its own poll()
//! of the context's epoll fd. The GSource itself is made by the GLib
//! library and only kept here, so the core never links GLib.
//!
//! Nothing here is on aio_poll's path: a program that never asks for the
//! GSource pays one empty slot per context and nothing per iteration.

use std::ffi::c_void;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;

use super::AioContext;
use qemucoro_util::mutex::Mutex;

/// Frees the GSource when its context goes (`void release(void *source)`).
pub type GSourceRelease = unsafe extern "C" fn(source: *mut c_void);

/// The context's GSource, once made: one per context, as QEMU's context
/// is its own GSource.
pub struct Attached {
    source: *mut c_void,
    release: GSourceRelease,
}

// SAFETY: the pointer is only stored and handed back (to any thread, as
// QEMU's aio_get_g_source may be called anywhere); GLib's sources are
// thread-safe objects.
unsafe impl Send for Attached {}

pub type GSourceSlot = Mutex<Option<Attached>>;

/// The bit of notify_me raised from prepare to check, while GLib may sleep
/// in poll() (QEMU's); aio_poll counts its blocking waits in steps of 2.
const GSOURCE_MAY_SLEEP: u32 = 1;

impl AioContext {
    /// The context's GSource, made by `create` on the first call (under
    /// the slot's lock, so there is only ever one); `release` gets it when
    /// the context's last reference goes.
    pub fn gsource(
        &self,
        create: impl FnOnce() -> *mut c_void,
        release: GSourceRelease,
    ) -> *mut c_void {
        let mut slot = self.gsource.lock();
        slot.get_or_insert_with(|| Attached {
            source: create(),
            release,
        })
        .source
    }

    /// Hands the GSource back to the GLib library; called once, by the
    /// last `unref`.
    pub(super) fn release_gsource(&self) {
        // Taken out first: the lock is not held while GLib runs.
        let attached = self.gsource.lock().take();
        if let Some(a) = attached {
            // SAFETY: the GLib library gave us this pair for this call.
            unsafe { (a.release)(a.source) };
        }
    }

    /// GLib's prepare: from here until `gsource_check`, GLib may sleep in
    /// poll(), so wakers must write the eventfd (the protocol of `poll`).
    /// Returns how long it may sleep in ns (0: work is ready, -1: no
    /// limit) and the fd it must poll, which changes when the epoll
    /// instance is renewed.
    pub fn gsource_prepare(&self) -> (i64, RawFd) {
        self.epoll.close_retired();
        self.notify_me.fetch_or(GSOURCE_MAY_SLEEP, Ordering::SeqCst);
        (self.timeout_ns(), self.epoll.fd())
    }

    /// GLib's check, after its poll(): whether there is anything to
    /// dispatch. `fd_ready`: poll() found the epoll fd readable (a watched
    /// fd is ready, or the context was notified).
    pub fn gsource_check(&self, fd_ready: bool) -> bool {
        self.notify_me
            .fetch_and(!GSOURCE_MAY_SLEEP, Ordering::Release);
        fd_ready || self.timeout_ns() == 0
    }

    /// GLib's dispatch: one non-blocking iteration of the loop. GLib skips
    /// check when prepare found work, so the bit is lowered here too.
    pub fn gsource_dispatch(&self) {
        self.notify_me
            .fetch_and(!GSOURCE_MAY_SLEEP, Ordering::Release);
        if self.handlers.is_empty() {
            // A non-blocking poll with no fd handler skips epoll_wait, so
            // a wake-up would keep the epoll fd readable for ever.
            self.epoll.clear_notification();
        }
        self.poll(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_me_is_raised_from_prepare_until_check_or_dispatch() {
        let ctx = AioContext::new().unwrap();
        // SAFETY: just created; given up at the end of the test.
        let c = unsafe { &*ctx };
        let (timeout, fd) = c.gsource_prepare();
        assert_eq!(timeout, -1);
        assert_eq!(fd, c.epoll.fd());
        assert_eq!(c.notify_me.load(Ordering::Relaxed), GSOURCE_MAY_SLEEP);
        assert!(!c.gsource_check(false));
        assert_eq!(c.notify_me.load(Ordering::Relaxed), 0);
        c.gsource_prepare();
        c.gsource_dispatch();
        assert_eq!(c.notify_me.load(Ordering::Relaxed), 0);
        // SAFETY: our only reference; nothing is pending.
        unsafe { c.unref() };
    }
}
