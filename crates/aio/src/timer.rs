//! Clocks and timers (`QEMUClockType`, `qemu_clock_get_ns`, `QEMUTimer`).
//!
//! Each context keeps one list per clock, sorted by expiry, as QEMU does:
//! arming is a sorted insert under the list's mutex (timers may be armed
//! from any thread), and the loop pops expired timers from the front. A
//! timer is intrusive, so arming never allocates and a timer may live on a
//! coroutine's stack (as qemu_co_sleep_ns's does) or inside a C struct
//! (`timer_init`): the struct's full definition is in the header.

use std::cell::UnsafeCell;
use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicI64, AtomicPtr, Ordering};

use super::context::AioContext;
use qemucoro_coroutine::wait;
use qemucoro_util::abort::die;
use qemucoro_util::mutex::{Mutex, MutexGuard};

/// QEMU's clock names. C sees QEMU's enum (include/qemu/clock-type.h);
/// Rust takes the value as an `int`, so that a bad value from C can be
/// rejected with a message instead of being undefined behaviour.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct QEMUClockType(pub c_int);

/// A monotonic clock that keeps running while the guest is stopped; QEMU's
/// choice for timeouts and sleeps of the host side.
pub const QEMU_CLOCK_REALTIME: QEMUClockType = QEMUClockType(0);
/// The guest's clock; without a guest it is the monotonic clock.
#[allow(dead_code)] // for C code, through the header
pub const QEMU_CLOCK_VIRTUAL: QEMUClockType = QEMUClockType(1);
/// The host's wall clock (CLOCK_REALTIME): it jumps when the date is set.
pub const QEMU_CLOCK_HOST: QEMUClockType = QEMUClockType(2);
/// The guest's real-time clock; without a guest it is the monotonic clock.
#[allow(dead_code)] // for C code, through the header
pub const QEMU_CLOCK_VIRTUAL_RT: QEMUClockType = QEMUClockType(3);
/// How many clocks there are.
pub const QEMU_CLOCK_MAX: QEMUClockType = QEMUClockType(4);

/// A timer scale (`aio_timer_new`'s `scale`): expiry times in milliseconds.
pub const SCALE_MS: c_int = 1_000_000;
/// A timer scale: expiry times in microseconds.
pub const SCALE_US: c_int = 1000;
/// A timer scale: expiry times in nanoseconds.
pub const SCALE_NS: c_int = 1;

pub const CLOCKS: usize = QEMU_CLOCK_MAX.0 as usize;

impl QEMUClockType {
    /// The clock's index, or an abort naming `func` for a bad value.
    pub fn index(self, func: &str) -> usize {
        match usize::try_from(self.0) {
            Ok(i) if i < CLOCKS => i,
            _ => die(format_args!("{func}: invalid QEMUClockType {}", self.0)),
        }
    }

    pub fn now_ns(self) -> i64 {
        let id = if self == QEMU_CLOCK_HOST {
            libc::CLOCK_REALTIME
        } else {
            libc::CLOCK_MONOTONIC
        };
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a live timespec; both clock ids always exist.
        unsafe { libc::clock_gettime(id, &mut ts) };
        ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    }
}

/// `void QEMUTimerCB(void *opaque)`.
pub type QEMUTimerCB = unsafe extern "C" fn(opaque: *mut c_void);

/// A timer. C code may embed it by value and set it up with `timer_init`
/// or `aio_timer_init`, or get one from `timer_new` / `aio_timer_new`; its
/// fields are private to the library. All-zero is a timer that was never
/// initialised: using it aborts with a message.
#[repr(C)]
pub struct QEMUTimer {
    /// Expiry in ns of the clock, -1 while not armed. Written only under
    /// the list's lock; read atomically anywhere (`timer_pending`).
    expire_time: UnsafeCell<i64>,
    /// The context whose loop runs the timer; NULL before `timer_init` and
    /// after `timer_deinit`.
    ctx: *const AioContext,
    cb: Option<unsafe extern "C" fn(opaque: *mut c_void)>,
    opaque: *mut c_void,
    /// Next armed timer of the same list; guarded by the list's lock.
    next: UnsafeCell<*mut QEMUTimer>,
    /// The QEMUClockType, validated when the timer is set up.
    clock: c_int,
    /// Nanoseconds per unit of `timer_mod`'s expiry.
    scale: c_int,
}

// The header's definition embeds this exact layout (QEMU's is 48 bytes too).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<QEMUTimer>() == 48 && align_of::<QEMUTimer>() == 8);

/// The armed timers of one clock of one context, soonest first.
pub struct TimerList {
    /// Held to change or walk the list (any thread may arm a timer).
    lock: Mutex<()>,
    /// The soonest armed timer, null if none; linked timers are live
    /// (timer_del or timer_free unlinks them before they go away). Changed
    /// only under `lock`, but atomic so that the loop can see an empty list
    /// without taking it: every poll looks at every clock, and most lists
    /// are empty (QEMU looks first too). A timer armed first after that
    /// look notifies the context, so the loop looks again.
    head: AtomicPtr<QEMUTimer>,
}

/// Proof that the caller holds a list's lock.
type Held<'a> = MutexGuard<'a, ()>;

impl QEMUTimer {
    /// A disarmed timer of `ctx` that calls `cb(opaque)`. `clock` must be
    /// valid (see `QEMUClockType::index`).
    pub fn new(
        ctx: &AioContext,
        clock: QEMUClockType,
        scale: c_int,
        cb: QEMUTimerCB,
        opaque: *mut c_void,
    ) -> QEMUTimer {
        QEMUTimer {
            expire_time: UnsafeCell::new(-1),
            ctx,
            cb: Some(cb),
            opaque,
            next: UnsafeCell::new(ptr::null_mut()),
            clock: clock.0,
            scale,
        }
    }

    fn expire(&self) -> &AtomicI64 {
        // SAFETY: the field is aligned for an i64 (asserted above), and
        // every access to it goes through this atomic view.
        unsafe { AtomicI64::from_ptr(self.expire_time.get()) }
    }

    fn next(&self) -> &AtomicPtr<QEMUTimer> {
        // SAFETY: as in `expire`.
        unsafe { AtomicPtr::from_ptr(self.next.get()) }
    }

    fn list(&self, func: &str) -> &TimerList {
        if self.ctx.is_null() {
            die(format_args!(
                "{func}: the timer was not initialised (timer_init) or was deinitialised"
            ));
        }
        // SAFETY: a timer's context outlives it (QEMU's rule too), and the
        // clock was validated when the timer was set up.
        unsafe { &(*self.ctx).timers[self.clock as usize] }
    }

    /// `timer_mod`: arms (or re-arms) for `expire` in units of the scale.
    pub fn arm(&self, expire: i64) {
        self.arm_ns(expire.saturating_mul(i64::from(self.scale)));
    }

    /// `timer_mod_ns`. The timer must not move while armed.
    pub fn arm_ns(&self, expire_ns: i64) {
        self.rearm_if("timer_mod_ns", expire_ns, |_| true);
    }

    /// `timer_mod_anticipate_ns`: arms for `expire_ns` unless the timer is
    /// already armed to expire sooner (it never moves later).
    pub fn anticipate_ns(&self, expire_ns: i64) {
        self.rearm_if("timer_mod_anticipate_ns", expire_ns, |cur| {
            cur < 0 || cur > expire_ns
        });
    }

    /// `timer_mod_anticipate`, in units of the scale.
    pub fn anticipate(&self, expire: i64) {
        self.anticipate_ns(expire.saturating_mul(i64::from(self.scale)));
    }

    /// Moves the timer to `expire_ns` if `want(current expiry)` holds,
    /// deciding under the list's lock; wakes the loop if it became first.
    fn rearm_if(&self, func: &str, expire_ns: i64, want: impl FnOnce(i64) -> bool) {
        let list = self.list(func);
        let first = {
            let held = list.lock.lock();
            if !want(self.expire().load(Ordering::Relaxed)) {
                return;
            }
            list.unlink(&held, self);
            list.insert(&held, self, expire_ns.max(0))
        };
        if first {
            // SAFETY: as in `list`.
            unsafe { &*self.ctx }.notify();
        }
    }

    /// `timer_del`: disarms; a no-op if not armed.
    pub fn disarm(&self) {
        if self.ctx.is_null() && !self.pending() {
            // QEMU lets a deinitialised, disarmed timer be deleted again.
            return;
        }
        let list = self.list("timer_del");
        list.unlink(&list.lock.lock(), self);
    }

    /// `timer_deinit`: forgets the context; the timer must be disarmed.
    pub fn deinit(&mut self) {
        if self.pending() {
            die(format_args!("timer_deinit: the timer is still armed"));
        }
        self.ctx = ptr::null();
    }

    pub fn pending(&self) -> bool {
        self.expire().load(Ordering::Acquire) >= 0
    }

    /// Expiry in ns, -1 if not armed.
    pub fn expire_ns(&self) -> i64 {
        self.expire().load(Ordering::Acquire)
    }
}

impl Default for TimerList {
    fn default() -> Self {
        TimerList::new()
    }
}

impl TimerList {
    pub const fn new() -> TimerList {
        TimerList {
            lock: Mutex::new(()),
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Removes `t` if armed.
    fn unlink(&self, _held: &Held, t: &QEMUTimer) {
        if t.expire().load(Ordering::Relaxed) < 0 {
            return;
        }
        let mut link: *const AtomicPtr<QEMUTimer> = ptr::null();
        let mut cur = self.head.load(Ordering::Relaxed);
        while !cur.is_null() && !ptr::eq(cur, t) {
            // SAFETY: armed timers are live while linked (see `head`).
            let c = unsafe { &*cur };
            link = c.next();
            cur = c.next().load(Ordering::Relaxed);
        }
        let next = t.next().load(Ordering::Relaxed);
        // SAFETY: `link` is null or the `next` field of a live linked timer.
        match unsafe { link.as_ref() } {
            None => self.head.store(next, Ordering::Release),
            Some(l) => l.store(next, Ordering::Relaxed),
        }
        t.expire().store(-1, Ordering::Release);
    }

    /// Links the disarmed `t` in expiry order; true if it is now first.
    fn insert(&self, _held: &Held, t: &QEMUTimer, expire_ns: i64) -> bool {
        t.expire().store(expire_ns, Ordering::Release);
        let mut link: *const AtomicPtr<QEMUTimer> = ptr::null();
        let mut cur = self.head.load(Ordering::Relaxed);
        // SAFETY: armed timers are live while linked (see `head`).
        while let Some(c) = unsafe { cur.as_ref() } {
            if c.expire().load(Ordering::Relaxed) > expire_ns {
                break;
            }
            link = c.next();
            cur = c.next().load(Ordering::Relaxed);
        }
        t.next().store(cur, Ordering::Relaxed);
        // SAFETY: as in unlink.
        match unsafe { link.as_ref() } {
            None => {
                self.head
                    .store(ptr::from_ref(t).cast_mut(), Ordering::Release);
                true
            }
            Some(l) => {
                l.store(ptr::from_ref(t).cast_mut(), Ordering::Relaxed);
                false
            }
        }
    }

    /// Whether any timer of the list is armed (without the lock: the answer
    /// may be stale by the time the caller acts, as it could be with it).
    /// SeqCst, like the poll's raising of notify_me before it, so that a
    /// poll about to sleep either sees a timer armed first or is notified
    /// (the arming side's half is the fence in `AioContext::notify`).
    pub fn has_timers(&self) -> bool {
        !self.head.load(Ordering::SeqCst).is_null()
    }

    /// Nanoseconds until the first timer of `clock` expires (0 if it has).
    pub fn deadline_ns(&self, clock: QEMUClockType) -> Option<i64> {
        if !self.has_timers() {
            return None;
        }
        let _held = self.lock.lock();
        // SAFETY: as in unlink.
        let first = unsafe { self.head.load(Ordering::Relaxed).as_ref() }?;
        Some((first.expire().load(Ordering::Relaxed) - clock.now_ns()).max(0))
    }

    /// Runs the timers that expired by now, each disarmed before its
    /// callback (which may re-arm it); returns whether any ran.
    pub fn run(&self, clock: QEMUClockType) -> bool {
        if !self.has_timers() {
            return false;
        }
        // Read the clock only once some timer is seen armed.
        let mut now = None;
        let mut progress = false;
        loop {
            let (cb, opaque) = {
                let held = self.lock.lock();
                // SAFETY: as in unlink.
                let Some(first) = (unsafe { self.head.load(Ordering::Relaxed).as_ref() }) else {
                    break;
                };
                if first.expire().load(Ordering::Relaxed)
                    > *now.get_or_insert_with(|| clock.now_ns())
                {
                    break;
                }
                self.unlink(&held, first);
                (first.cb, first.opaque)
            };
            // The callback may run coroutines that yield: give them the time
            // just read (coroutine/wait.rs), unless it is the wall clock.
            if let (Some(t), false) = (now, clock == QEMU_CLOCK_HOST) {
                wait::stamp(t as u64);
            }
            // Set up timers always have a callback (the C entry points check).
            if let Some(cb) = cb {
                // SAFETY: whoever set the timer up promised cb(opaque) is valid.
                unsafe { cb(opaque) };
            }
            progress = true;
        }
        progress
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex as StdMutex;

    static FIRED: StdMutex<Vec<usize>> = StdMutex::new(Vec::new());

    unsafe extern "C" fn record(opaque: *mut c_void) {
        FIRED.lock().unwrap().push(opaque as usize);
    }

    #[test]
    fn expired_timers_run_in_expiry_order_and_disarmed_ones_not_at_all() {
        let ctx = AioContext::new().unwrap();
        // SAFETY: just created; unref'd at the end.
        let c = unsafe { &*ctx };
        let clock = QEMU_CLOCK_REALTIME;
        let t: Vec<QEMUTimer> = (1..=4)
            .map(|i| QEMUTimer::new(c, clock, SCALE_NS, record, i as *mut c_void))
            .collect();
        let now = clock.now_ns();
        t[0].arm_ns(now - 10);
        t[1].arm_ns(now - 30);
        t[2].arm_ns(now - 20);
        t[3].arm_ns(now - 40);
        t[3].disarm();
        assert!(c.timers[0].run(clock));
        assert_eq!(*FIRED.lock().unwrap(), [2, 3, 1]);
        assert!(!t.iter().any(QEMUTimer::pending));
        // SAFETY: our reference, given up once, timers all disarmed.
        unsafe { c.unref() };
    }
}
