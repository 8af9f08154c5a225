//! Bottom halves (`QEMUBH`): callbacks that the owning event loop runs on
//! its next iteration, scheduled from any thread without locks.
//!
//! A bottom half is on its context's push list at most once, marked by
//! PENDING; SCHEDULED says whether to run it when taken off, so cancel is a
//! flag clear. Deletion is deferred to the loop, which frees the bottom half
//! when it takes it off the list, so deleting is safe from any thread and
//! from inside the callback itself.
//!
//! Batches, as QEMU runs them: each `aio_poll` takes the whole push list as
//! one batch (a slice, newest first, as pushed) and appends it to the
//! context's queue of slices; it then runs bottom halves from the front of
//! that queue until the queue is empty. An `aio_poll` nested in a callback
//! therefore first finishes the batch it was called from, then its own: a
//! bottom half that waits in aio_poll for another of the same batch sees it
//! run. A bottom half stays PENDING until it is taken off its slice, so its
//! link is stable while it waits there.

use std::cell::Cell;
use std::ffi::{c_char, c_void, CStr};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use super::context::AioContext;
use super::push_list::{self, Linked};
use qemucoro_util::abort::die;
use qemucoro_util::sanitizer;

/// `void QEMUBHFunc(void *opaque)`.
pub type QEMUBHFunc = unsafe extern "C" fn(opaque: *mut c_void);

const PENDING: u32 = 1;
const SCHEDULED: u32 = 2;
const ONESHOT: u32 = 4;
const DELETED: u32 = 8;

/// A bottom half: opaque to C.
pub struct QEMUBH {
    ctx: *const AioContext,
    /// For the leak report: the callback's name as the caller's macro
    /// spelled it (QEMU's `stringify(cb)`), a static string.
    name: *const c_char,
    cb: QEMUBHFunc,
    opaque: *mut c_void,
    flags: AtomicU32,
    next: AtomicPtr<QEMUBH>,
}

impl Linked for QEMUBH {
    fn link(&self) -> &AtomicPtr<QEMUBH> {
        &self.next
    }
}

fn alloc(
    ctx: &AioContext,
    cb: QEMUBHFunc,
    opaque: *mut c_void,
    name: *const c_char,
    flags: u32,
) -> *mut QEMUBH {
    Box::into_raw(Box::new(QEMUBH {
        ctx,
        name,
        cb,
        opaque,
        flags: AtomicU32::new(flags),
        next: AtomicPtr::new(ptr::null_mut()),
    }))
}

/// `aio_bh_new_full`: a bottom half of `ctx`, not scheduled. `name` must be
/// a NUL-terminated string that lives as long as the bottom half (or null).
pub fn new(
    ctx: &AioContext,
    cb: QEMUBHFunc,
    opaque: *mut c_void,
    name: *const c_char,
) -> *mut QEMUBH {
    alloc(ctx, cb, opaque, name, 0)
}

/// `aio_bh_schedule_oneshot_full`: runs `cb(opaque)` once in `ctx`, then
/// frees. `name` as for `new`.
pub fn schedule_oneshot(
    ctx: &AioContext,
    cb: QEMUBHFunc,
    opaque: *mut c_void,
    name: &'static CStr,
) {
    schedule_oneshot_named(ctx, cb, opaque, name.as_ptr());
}

/// `schedule_oneshot` with a name from C.
pub fn schedule_oneshot_named(
    ctx: &AioContext,
    cb: QEMUBHFunc,
    opaque: *mut c_void,
    name: *const c_char,
) {
    let bh = alloc(ctx, cb, opaque, name, ONESHOT);
    // SAFETY: just allocated; freed only by the loop after it runs.
    enqueue(unsafe { &*bh }, SCHEDULED);
}

/// `qemu_bh_schedule`.
pub fn schedule(bh: &QEMUBH) {
    enqueue(bh, SCHEDULED);
}

/// `qemu_bh_cancel`: a scheduled run is dropped; the bottom half stays.
pub fn cancel(bh: &QEMUBH) {
    bh.flags.fetch_and(!SCHEDULED, Ordering::AcqRel);
}

/// `qemu_bh_delete`: cancels and frees (on the loop's next iteration).
pub fn delete(bh: &QEMUBH) {
    enqueue(bh, DELETED);
}

fn enqueue(bh: &QEMUBH, flags: u32) {
    // SAFETY: a bottom half's context outlives it (QEMU's rule, checked
    // when the context is destroyed: see `free_pending`).
    let ctx = unsafe { &*bh.ctx };
    // TSan builds: when the bottom half is already pending, the flags alone
    // hand our writes to the callback; pairs with the `acquire` in `poll`.
    sanitizer::release(ptr::from_ref(bh).cast());
    let old = bh.flags.fetch_or(PENDING | flags, Ordering::AcqRel);
    if old & PENDING == 0 {
        ctx.bhs.push(bh);
    }
    ctx.notify();
}

/// One batch of bottom halves taken by one `poll`, newest first; lives on
/// that poll's stack while it is on the context's queue of slices.
pub struct Slice {
    head: Cell<*mut QEMUBH>,
    next: Cell<*const Slice>,
}

/// The context's queue of slices: touched only by `aio_poll`, which runs on
/// the context's home thread only, so plain cells.
#[derive(Default)]
pub struct Slices {
    first: Cell<*const Slice>,
    last: Cell<*const Slice>,
}

// SAFETY: only the context's home thread touches the queue (aio_poll
// checks the thread); the context itself is shared between threads.
unsafe impl Sync for Slices {}
// SAFETY: as above.
unsafe impl Send for Slices {}

impl Slices {
    fn push_back(&self, s: &Slice) {
        // SAFETY: slices on the queue are live (see `poll`).
        match unsafe { self.last.get().as_ref() } {
            Some(last) => last.next.set(s),
            None => self.first.set(s),
        }
        self.last.set(s);
    }

    fn pop_front(&self) {
        // SAFETY: as in push_back.
        if let Some(first) = unsafe { self.first.get().as_ref() } {
            self.first.set(first.next.get());
            if self.first.get().is_null() {
                self.last.set(ptr::null());
            }
        }
    }

    /// Whether some slice still holds a bottom half (the loop must not
    /// sleep: a nested poll has its caller's batch to finish).
    pub fn has_work(&self) -> bool {
        let mut s = self.first.get();
        // SAFETY: as in push_back.
        while let Some(slice) = unsafe { s.as_ref() } {
            if !slice.head.get().is_null() {
                return true;
            }
            s = slice.next.get();
        }
        false
    }

    /// The next bottom half to run: the newest of the first slice that
    /// has any, taken off it.
    fn next_bh(&self) -> Option<*mut QEMUBH> {
        loop {
            // SAFETY: as in push_back.
            let first = unsafe { self.first.get().as_ref() }?;
            let bh = first.head.get();
            if bh.is_null() {
                self.pop_front();
                continue;
            }
            // SAFETY: a bottom half on a slice is live until we free it in
            // `poll`, and PENDING keeps it off every other list.
            first.head.set(unsafe { &*bh }.next.load(Ordering::Relaxed));
            return Some(bh);
        }
    }
}

/// Runs the scheduled bottom halves of `ctx` (and, nested, what is left of
/// its callers' batches), frees deleted and one-shot ones; returns whether
/// any callback ran. Those scheduled meanwhile wait for the next call.
pub fn poll(ctx: &AioContext) -> bool {
    let chain = ctx.bhs.take_chain();
    if chain.is_null() && ctx.bh_slices.first.get().is_null() {
        return false;
    }
    let slice = Slice {
        head: Cell::new(chain),
        next: Cell::new(ptr::null()),
    };
    // The slice leaves the queue before this function returns: the loop
    // below runs until the queue is empty, this slice included.
    ctx.bh_slices.push_back(&slice);
    let mut progress = false;
    while let Some(bh) = ctx.bh_slices.next_bh() {
        push_list::acquire(bh);
        progress |= run(bh);
    }
    progress
}

/// Takes `bh` off its slice's PENDING state, runs it if scheduled and frees
/// it if deleted or one-shot. True if the callback ran.
fn run(bh: *mut QEMUBH) -> bool {
    // SAFETY: taken off a slice, so live until freed below.
    let b = unsafe { &*bh };
    let flags = b.flags.fetch_and(!(PENDING | SCHEDULED), Ordering::AcqRel);
    // Pairs with the `release` in `enqueue`.
    sanitizer::acquire(bh.cast());
    let ran = flags & (SCHEDULED | DELETED) == SCHEDULED;
    if ran {
        // SAFETY: the scheduler promised cb(opaque) is valid to call.
        unsafe { (b.cb)(b.opaque) };
    }
    if flags & (DELETED | ONESHOT) != 0 {
        // SAFETY: deleted or one-shot: nobody may use it any more, and it
        // came from Box::into_raw in `alloc`.
        drop(unsafe { Box::from_raw(bh) });
    }
    ran
}

/// Frees the deleted bottom halves left on the list of a context being
/// destroyed; one that is still scheduled (or a pending one-shot) aborts,
/// naming it: its owner still expects it to run, or to delete it later
/// through the freed context. Checked before anything is taken off, so the
/// abort leaves the bottom halves reachable from the context.
pub fn free_pending(ctx: &AioContext) {
    let mut bh = ctx.bhs.peek();
    while !bh.is_null() {
        push_list::acquire(bh);
        // SAFETY: queued bottom halves are live; nobody else can take them
        // (the last reference is gone).
        let b = unsafe { &*bh };
        if b.flags.load(Ordering::Acquire) & DELETED == 0 {
            die(format_args!(
                "aio_context_unref: BH '{}' leaked, aborting...",
                name(b)
            ));
        }
        bh = b.next.load(Ordering::Relaxed);
    }
    let mut bh = ctx.bhs.take_chain();
    while !bh.is_null() {
        // SAFETY: as above; all are deleted, so nobody may use them.
        let next = unsafe { &*bh }.next.load(Ordering::Relaxed);
        // SAFETY: deleted, and it came from Box::into_raw in `alloc`.
        drop(unsafe { Box::from_raw(bh) });
        bh = next;
    }
}

fn name(b: &QEMUBH) -> std::borrow::Cow<'_, str> {
    if b.name.is_null() {
        "?".into()
    } else {
        // SAFETY: non-null names are NUL-terminated static strings.
        unsafe { CStr::from_ptr(b.name) }.to_string_lossy()
    }
}
