//! What a suspended coroutine waits for: its wait record, read by the hang
//! dump (aio/dump.rs) and by gdb (gdb/qemucoro.py) to say which coroutine
//! waits on what, since when, and who holds it.
//!
//! Cost is the point of the design. A plain `qemu_coroutine_yield` writes
//! two words (who entered it last and a coarse time stamp read from one
//! global, no clock call); kind stays `NONE`, which reads as "plain yield"
//! on a suspended coroutine. Every other wait (a contended lock, a queue, a
//! sleep, an fd, a schedule) is already on a slow path that sleeps, so it
//! records its kind, object and argument, reads the clock and the thread id,
//! and resets the kind once it runs again. The fields are atomics only so
//! that the dump may read them from another thread; every access is
//! relaxed, a plain load or store on our targets.
//!
//! A coroutine's read or write holds on `CoRwlock`s are kept here too (the
//! lock itself only counts its readers): up to `HELD_SLOTS` of them, which
//! is how the dump names a lock's holders.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};

use super::Coroutine;

/// Running, or suspended by a plain yield (then `last_caller` and
/// `yield_stamp` say by whom and since when).
pub const WAIT_NONE: u8 = 0;
/// `object`: the CoMutex.
pub const WAIT_MUTEX: u8 = 1;
/// `object`: the CoRwlock, wanted for reading.
pub const WAIT_RDLOCK: u8 = 2;
/// `object`: the CoRwlock, wanted for writing (wrlock or upgrade).
pub const WAIT_WRLOCK: u8 = 3;
/// `object`: the CoQueue; `arg`: the QemuLockable passed in (or 0).
pub const WAIT_QUEUE: u8 = 4;
/// `object`: the QemuCoSleep; `arg`: the length in ns (`NO_DEADLINE`: until
/// woken).
pub const WAIT_SLEEP: u8 = 5;
/// `object`: the AioContext; `arg`: the fd.
pub const WAIT_FD_READ: u8 = 6;
pub const WAIT_FD_WRITE: u8 = 7;
/// Woken and queued on `object`, an AioContext, not run yet; `arg`: the
/// kind it waited with before.
pub const WAIT_SCHEDULED: u8 = 8;

/// `arg` of a sleep with no deadline (`qemu_co_sleep`).
pub const NO_DEADLINE: usize = usize::MAX;

/// How many rwlock holds a coroutine keeps track of; more are held but not
/// named by the dump.
pub const HELD_SLOTS: usize = 4;

/// A coroutine's wait record (see the module comment). Cache-line aligned,
/// so the coroutine starts on a line of its own and the record fills whole
/// lines ahead of the hot fields: unaligned, the record (laid out first by
/// rustc) moved `caller` and the fiber's slot to other offsets within
/// their lines, and `perf/yield` ran 3-5% slower than before the record
/// existed even with its two stores removed; aligned, it runs as fast.
#[repr(align(64))]
pub struct Wait {
    pub kind: AtomicU8,
    pub object: AtomicPtr<c_void>,
    pub arg: AtomicUsize,
    /// CLOCK_MONOTONIC ns when the recorded wait began.
    pub since_ns: AtomicU64,
    /// The kernel's id of the thread that began the recorded wait.
    pub tid: AtomicI32,
    /// Who entered the coroutine last (set as it yields).
    pub last_caller: AtomicPtr<Coroutine>,
    /// `COARSE_NOW` when it last yielded: the time to within one event loop
    /// iteration (0: no loop has stamped yet).
    pub yield_stamp: AtomicU64,
    /// The CoRwlocks it holds (null: a free slot).
    pub held: [AtomicPtr<c_void>; HELD_SLOTS],
}

/// A coarse CLOCK_MONOTONIC in ns, stamped by every recorded wait, by an
/// event loop around each time it blocks and before each timer callback: a
/// plain yield copies it instead of calling the clock. Exported for gdb, which takes it as "now" in a core
/// dump.
#[used]
#[export_name = "qemucoro_coarse_now"]
static COARSE_NOW: AtomicU64 = AtomicU64::new(0);

impl Wait {
    pub const fn new() -> Wait {
        Wait {
            kind: AtomicU8::new(WAIT_NONE),
            object: AtomicPtr::new(ptr::null_mut()),
            arg: AtomicUsize::new(0),
            since_ns: AtomicU64::new(0),
            tid: AtomicI32::new(0),
            last_caller: AtomicPtr::new(ptr::null_mut()),
            yield_stamp: AtomicU64::new(0),
            held: [const { AtomicPtr::new(ptr::null_mut()) }; HELD_SLOTS],
        }
    }

    /// Records a wait that is about to start; call it before the coroutine
    /// becomes visible to its waker (queued), so that the waker's own
    /// record (`scheduled`) comes after it.
    #[cold]
    pub fn begin(&self, kind: u8, object: *const c_void, arg: usize) {
        let now = tick();
        self.object.store(object.cast_mut(), Ordering::Relaxed);
        self.arg.store(arg, Ordering::Relaxed);
        self.since_ns.store(now, Ordering::Relaxed);
        self.tid.store(gettid(), Ordering::Relaxed);
        self.kind.store(kind, Ordering::Release);
    }

    /// The recorded wait is over: the coroutine runs again.
    #[inline(always)]
    pub fn end(&self) {
        self.kind.store(WAIT_NONE, Ordering::Relaxed);
    }

    /// The coroutine was woken and queued on `ctx`'s loop; keeps the time
    /// it began waiting.
    pub fn scheduled(&self, ctx: *const c_void) {
        let before = self.kind.load(Ordering::Relaxed);
        self.arg.store(before as usize, Ordering::Relaxed);
        self.object.store(ctx.cast_mut(), Ordering::Relaxed);
        self.kind.store(WAIT_SCHEDULED, Ordering::Release);
    }

    /// A plain yield: two stores, no clock call.
    #[inline(always)]
    pub fn yielded(&self, caller: *const Coroutine) {
        self.last_caller.store(caller.cast_mut(), Ordering::Relaxed);
        self.yield_stamp
            .store(COARSE_NOW.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    /// Notes a hold on the rwlock `lock`.
    pub fn hold(&self, lock: *const c_void) {
        for slot in &self.held {
            if slot.load(Ordering::Relaxed).is_null() {
                slot.store(lock.cast_mut(), Ordering::Relaxed);
                return;
            }
        }
    }

    /// Forgets one hold on the rwlock `lock`.
    pub fn release(&self, lock: *const c_void) {
        for slot in &self.held {
            if ptr::eq(slot.load(Ordering::Relaxed), lock) {
                slot.store(ptr::null_mut(), Ordering::Relaxed);
                return;
            }
        }
    }
}

impl Default for Wait {
    fn default() -> Wait {
        Wait::new()
    }
}

/// CLOCK_MONOTONIC in ns.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write; the clock always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Stamps the coarse time with `now`, a CLOCK_MONOTONIC reading the caller
/// already had (a timer list's).
pub fn stamp(now: u64) {
    COARSE_NOW.store(now, Ordering::Relaxed);
}

/// Reads the clock and stamps the coarse time with it; returns it.
pub fn tick() -> u64 {
    let now = monotonic_ns();
    COARSE_NOW.store(now, Ordering::Relaxed);
    now
}

thread_local! {
    /// The calling thread's kernel id, asked once (0: not yet).
    static TID: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

/// The calling thread's kernel id. The thread-local is read and written
/// within this call, never across a switch.
fn gettid() -> i32 {
    TID.with(|t| {
        if t.get() == 0 {
            // SAFETY: a system call without arguments.
            t.set(unsafe { libc::syscall(libc::SYS_gettid) as i32 });
        }
        t.get()
    })
}
