//! The AioContext: an event loop of fd handlers, bottom halves, timers and
//! coroutines scheduled from other threads, run by `aio_poll` on its home
//! thread.
//!
//! Waking a sleeping loop from another thread follows QEMU's protocol: a
//! blocking `aio_poll` raises `notify_me` before it looks for pending work,
//! and a waker writes the eventfd only if it sees `notify_me` raised after it
//! has queued its work. So a loop that is busy is never sent a system call,
//! and a loop about to sleep either sees the work or gets the write.

use std::ffi::c_void;
use std::io;
use std::ptr;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, AtomicUsize, Ordering};

use super::bh::{self, Slices, QEMUBH};
use super::epoll::{Epoll, Event, MAX_EVENTS, NOTIFIER_KEY};
use super::fd_handler::{FdHandlers, Handlers, Polled};
use super::poll_mode::{self, Adjust, PollParams};
use super::push_list::{Linked, PushList};
use super::thread_pool::PoolSlot;
use super::timer::{QEMUClockType, TimerList, CLOCKS};
use qemucoro_coroutine::{self as coroutine, wait, Coroutine};
use qemucoro_util::abort::die;
use qemucoro_util::sanitizer;

mod gsource;

/// An event loop: opaque to C.
pub struct AioContext {
    refcnt: AtomicUsize,
    epoll: Epoll,
    /// Raised by 2 while a blocking aio_poll may sleep (QEMU's counter).
    notify_me: AtomicU32,
    pub(super) bhs: PushList<QEMUBH>,
    /// The batches of bottom halves being run (see bh.rs).
    pub(super) bh_slices: Slices,
    scheduled: PushList<Coroutine>,
    handlers: FdHandlers,
    /// Numbers the polls, for their marks on ready fds (home thread only;
    /// atomic for Sync).
    poll_token: AtomicU64,
    pub(super) timers: [TimerList; CLOCKS],
    /// Its thread pool (thread_pool.rs), made on first use.
    pub(super) thread_pool: PoolSlot,
    /// The GSource of libqemucoro-glib, if a program asked for it.
    gsource: gsource::GSourceSlot,
    /// Busy polling (poll_mode.rs); off by default.
    poll_params: PollParams,
}

impl Linked for Coroutine {
    fn link(&self) -> &std::sync::atomic::AtomicPtr<Coroutine> {
        &self.scheduled_next
    }
}

impl AioContext {
    /// `aio_context_new`: a context with one reference.
    pub fn new() -> io::Result<*mut AioContext> {
        Ok(Box::into_raw(Box::new(AioContext {
            refcnt: AtomicUsize::new(1),
            epoll: Epoll::new()?,
            notify_me: AtomicU32::new(0),
            bhs: PushList::new(),
            bh_slices: Slices::default(),
            scheduled: PushList::new(),
            handlers: FdHandlers::default(),
            poll_token: AtomicU64::new(0),
            timers: [const { TimerList::new() }; CLOCKS],
            thread_pool: PoolSlot::new(),
            gsource: gsource::GSourceSlot::default(),
            poll_params: PollParams::default(),
        })))
    }

    pub fn as_ptr(&self) -> *mut AioContext {
        ptr::from_ref(self).cast_mut()
    }

    /// `aio_context_ref`.
    pub fn add_ref(&self) {
        self.refcnt.fetch_add(1, Ordering::Relaxed);
    }

    /// `aio_context_unref`: frees the context with its last reference.
    ///
    /// # Safety
    /// The caller owns one reference, which it gives up: if it was the last,
    /// `self` is dangling afterwards and nobody may poll or use it.
    pub unsafe fn unref(&self) {
        // TSan builds: every thread's use happens before the free; pairs
        // with the `acquire` of whoever drops the last reference.
        sanitizer::release(self.as_ptr().cast());
        if self.refcnt.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        sanitizer::acquire(self.as_ptr().cast());
        self.thread_pool.shutdown();
        self.check_no_pending_work();
        bh::free_pending(self);
        self.release_gsource();
        // SAFETY: the last reference is gone, and every context comes from
        // Box::into_raw in `new`.
        drop(unsafe { Box::from_raw(self.as_ptr()) });
    }

    /// What QEMU asserts when it destroys a context: nothing may still be
    /// waiting to run in it, since its owner would later reach it through
    /// the freed context (bottom halves are checked by `bh::free_pending`).
    fn check_no_pending_work(&self) {
        if !self.scheduled.is_empty() {
            die(format_args!(
                "aio_context_unref: a coroutine is still scheduled, aborting..."
            ));
        }
        if self.timers.iter().any(TimerList::has_timers) {
            die(format_args!(
                "aio_context_unref: a timer is still armed, aborting..."
            ));
        }
    }

    /// `aio_notify`: makes a blocking aio_poll wake up and look for work.
    pub fn notify(&self) {
        // Pairs with the SeqCst update of notify_me in `poll`: either the
        // poller sees our work or we see it may sleep.
        fence(Ordering::SeqCst);
        if self.notify_me.load(Ordering::Relaxed) != 0 {
            self.epoll.notify();
        }
    }

    /// `aio_set_fd_handler`.
    pub fn set_fd_handler(&self, fd: i32, h: Handlers) {
        self.handlers
            .set(&self.epoll, fd, h, self.poll_token.load(Ordering::Relaxed));
        self.notify();
    }

    /// `aio_context_set_poll_params`: the busy-polling parameters
    /// (poll_mode.rs); every fd's poll time starts again from 0. Returns the
    /// name of the first negative value, leaving the parameters as they were.
    pub fn set_poll_params(&self, max_ns: i64, grow: i64, shrink: i64) -> Result<(), &'static str> {
        self.poll_params.set(max_ns, grow, shrink)?;
        self.handlers.reset_poll_times();
        self.notify();
        Ok(())
    }

    /// `aio_co_schedule`: queues `co` to be entered by this context's loop.
    /// `func` names the caller in the double-scheduling abort.
    pub fn schedule(&self, co: &Coroutine, func: &'static std::ffi::CStr) {
        let name = func.as_ptr().cast_mut();
        if let Err(prev) = co.scheduled.compare_exchange(
            ptr::null_mut(),
            name,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: `scheduled` only ever holds NUL-terminated static names.
            let prev = unsafe { std::ffi::CStr::from_ptr(prev) };
            die(format_args!(
                "{}: Co-routine was already scheduled in '{}'",
                func.to_string_lossy(),
                prev.to_string_lossy()
            ));
        }
        co.wait.scheduled(self.as_ptr().cast());
        self.add_ref();
        if self.scheduled.push(co) {
            self.notify();
        }
    }

    /// `aio_poll`: one iteration of the loop; with `blocking`, first waits
    /// until something is ready. Returns whether any callback ran (a bare
    /// wake-up by aio_notify is no progress, as in QEMU). Runs on the
    /// context's home thread only, and may be nested in its own callbacks.
    pub fn poll(&self, blocking: bool) -> bool {
        self.epoll.close_retired();
        if blocking {
            self.notify_me.fetch_add(2, Ordering::SeqCst);
        }
        let timeout = if blocking { self.timeout_ns() } else { 0 };
        if self.poll_params.max_ns() != 0 {
            return self.poll_adaptive(blocking, timeout);
        }
        let mut buf = Epoll::buffer();
        let n = if timeout == 0 && self.handlers.is_empty() {
            // Nothing to wait for and no fd to look at: skip the syscall. A
            // wake-up left in the eventfd only costs one spurious iteration.
            0
        } else {
            self.wait_events(&mut buf, timeout)
        };
        self.run_ready(blocking, &buf[..n], &[], None)
    }

    /// epoll_wait. When the loop may sleep, the coarse clock that plain
    /// yields copy (coroutine/wait.rs) is stamped on either side, once per
    /// sleep.
    #[inline(always)]
    fn wait_events(&self, buf: &mut [Event; MAX_EVENTS], timeout: i64) -> usize {
        if timeout == 0 {
            return self.epoll.wait(buf, timeout).len();
        }
        wait::tick();
        let n = self.epoll.wait(buf, timeout).len();
        wait::tick();
        n
    }

    /// `poll` with busy polling on (poll_mode.rs): kept out of the plain
    /// path, which stays as it was without polling.
    #[inline(never)]
    fn poll_adaptive(&self, blocking: bool, mut timeout: i64) -> bool {
        let start = poll_mode::now_ns();
        let polled_ready = if timeout != 0 {
            self.busy_poll(&mut timeout)
        } else {
            Vec::new()
        };
        let mut buf = Epoll::buffer();
        let n = if (timeout == 0 && self.handlers.is_empty()) || !polled_ready.is_empty() {
            // Busy polling found work: no need to look at the fds.
            0
        } else {
            self.wait_events(&mut buf, timeout)
        };
        // How the dispatched fds' poll times adapt to this iteration's block.
        let adjust = self.poll_params.adjust(poll_mode::now_ns() - start);
        self.run_ready(blocking, &buf[..n], &polled_ready, Some(adjust))
    }

    /// The second half of `poll`, after the wait: runs what is ready.
    #[inline(always)]
    fn run_ready(
        &self,
        blocking: bool,
        events: &[Event],
        polled_ready: &[Polled],
        adjust: Option<Adjust>,
    ) -> bool {
        if blocking {
            self.notify_me.fetch_sub(2, Ordering::Release);
        }
        if events.iter().any(|ev| ev.u64 == NOTIFIER_KEY) {
            self.epoll.clear_notification();
        }
        let always_ready = self.handlers.any_always_ready();
        // This poll's token for the fds it found ready (see fd_handler.rs).
        let mut token = 0;
        if !events.is_empty() || always_ready || !polled_ready.is_empty() {
            // Only the home thread polls: no read-modify-write needed.
            token = self.poll_token.load(Ordering::Relaxed) + 1;
            self.poll_token.store(token, Ordering::Relaxed);
        }
        let mut progress = self.run_scheduled();
        progress |= bh::poll(self);
        for p in polled_ready {
            progress |= self.handlers.dispatch_poll_ready(p, token, adjust);
        }
        for ev in events.iter().filter(|ev| ev.u64 != NOTIFIER_KEY) {
            progress |= self.handlers.dispatch(ev, token, adjust);
        }
        if always_ready {
            progress |= self.handlers.dispatch_always_ready(token, adjust);
        }
        // The check inline: `run` is a call, three per iteration.
        for (i, list) in self.timers.iter().enumerate() {
            if list.has_timers() {
                progress |= list.run(QEMUClockType(i as i32));
            }
        }
        progress
    }

    /// Busy-polls the polled fds' io_poll for up to their longest poll time
    /// (within `timeout`, then shortened by the time spent), until one
    /// returns true or another thread wakes the loop. Returns the fds whose
    /// io_poll returned true; `timeout` is 0 if the loop must not sleep.
    fn busy_poll(&self, timeout: &mut i64) -> Vec<Polled> {
        let mut ready = Vec::new();
        if !self.handlers.all_pollable() {
            return ready; // epoll alone sees some fds
        }
        let (polled, longest) = self.handlers.polled();
        let mut max_ns = poll_mode::soonest(*timeout, longest);
        if polled.is_empty() || max_ns == 0 {
            return ready;
        }
        let start = poll_mode::now_ns();
        let mut elapsed;
        loop {
            ready.extend(polled.iter().filter(|p| p.poll()));
            if self.epoll.kicked() {
                // Taken here, so that a stale flag cannot end every later
                // busy poll at once.
                self.epoll.clear_notification();
                *timeout = 0;
            }
            if !ready.is_empty() {
                *timeout = 0;
            }
            elapsed = poll_mode::now_ns() - start;
            max_ns = poll_mode::soonest(*timeout, max_ns);
            if elapsed >= max_ns || !self.handlers.all_pollable() {
                break;
            }
        }
        if *timeout != -1 {
            *timeout -= (*timeout).min(elapsed);
        }
        if *timeout != 0 {
            // About to sleep: one last look, as QEMU takes when it leaves
            // poll mode.
            ready.extend(polled.iter().filter(|p| p.poll()));
            if !ready.is_empty() {
                *timeout = 0;
            }
        }
        ready
    }

    /// How long a blocking poll may sleep in ns: 0 with work queued, until
    /// the first timer, or -1 (no limit).
    fn timeout_ns(&self) -> i64 {
        if !self.scheduled.is_empty()
            || !self.bhs.is_empty()
            || self.bh_slices.has_work()
            || self.handlers.any_always_ready()
        {
            return 0;
        }
        let deadline = (0..CLOCKS)
            .filter_map(|i| self.timers[i].deadline_ns(QEMUClockType(i as i32)))
            .min();
        deadline.unwrap_or(-1)
    }

    /// Enters the coroutines scheduled here, oldest first.
    fn run_scheduled(&self) -> bool {
        let mut progress = false;
        for co in self.scheduled.take_all() {
            // SAFETY: a scheduled coroutine stays live until it is entered
            // (it cannot terminate without running).
            let co = unsafe { &*co };
            co.scheduled.store(ptr::null_mut(), Ordering::Release);
            co.wait.end();
            coroutine::enter(self.as_ptr().cast::<c_void>(), co);
            // SAFETY: drops the reference taken by `schedule`; the poller
            // holds its own (QEMU's rule for aio_poll callers).
            unsafe { self.unref() };
            progress = true;
        }
        progress
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    unsafe extern "C" fn count(opaque: *mut c_void) {
        // SAFETY: the test passes a live counter.
        unsafe { &*opaque.cast::<AtomicUsize>() }.fetch_add(1, Ordering::Release);
    }

    struct SendBh(*mut QEMUBH);
    // SAFETY: bottom halves are made to be scheduled from any thread.
    unsafe impl Send for SendBh {}

    #[test]
    fn no_wake_up_is_lost_when_the_loop_is_about_to_sleep() {
        const N: usize = 20_000;
        let ctx = AioContext::new().unwrap();
        let counter: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
        // SAFETY: just created; freed at the end of the test.
        let bh = bh::new(
            unsafe { &*ctx },
            count,
            ptr::from_ref(counter).cast_mut().cast(),
            ptr::null(),
        );
        let send_bh = SendBh(bh);
        let waker = std::thread::spawn(move || {
            let send_bh = send_bh; // the whole struct, which is Send
            let bh = send_bh.0;
            for i in 1..=N {
                // SAFETY: the bottom half is deleted only after the join.
                bh::schedule(unsafe { &*bh });
                while counter.load(Ordering::Acquire) < i {
                    std::hint::spin_loop();
                }
            }
        });
        // SAFETY: as above.
        let c = unsafe { &*ctx };
        while counter.load(Ordering::Acquire) < N {
            c.poll(true);
        }
        waker.join().unwrap();
        // SAFETY: nobody uses the bottom half or the context any more.
        unsafe {
            bh::delete(&*bh);
            c.unref();
        }
    }
}
