//! Bottom halves (`QEMUBH`): callbacks that the owning event loop runs on
//! its next iteration, scheduled from any thread without locks.
//!
//! A bottom half is on its context's push list at most once, marked by
//! PENDING; SCHEDULED says whether to run it when taken off, so cancel is a
//! flag clear. Deletion is deferred to the loop, which frees the bottom half
//! when it takes it off the list, so deleting is safe from any thread and
//! from inside the callback itself.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};

use super::context::AioContext;
use super::push_list::Linked;
use crate::util::sanitizer;

/// `void QEMUBHFunc(void *opaque)`.
pub type QEMUBHFunc = unsafe extern "C" fn(opaque: *mut c_void);

const PENDING: u32 = 1;
const SCHEDULED: u32 = 2;
const ONESHOT: u32 = 4;
const DELETED: u32 = 8;

/// A bottom half: opaque to C.
pub struct QEMUBH {
    ctx: *const AioContext,
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

fn alloc(ctx: &AioContext, cb: QEMUBHFunc, opaque: *mut c_void, flags: u32) -> *mut QEMUBH {
    Box::into_raw(Box::new(QEMUBH {
        ctx,
        cb,
        opaque,
        flags: AtomicU32::new(flags),
        next: AtomicPtr::new(ptr::null_mut()),
    }))
}

/// `aio_bh_new`: a bottom half of `ctx`, not scheduled.
pub fn new(ctx: &AioContext, cb: QEMUBHFunc, opaque: *mut c_void) -> *mut QEMUBH {
    alloc(ctx, cb, opaque, 0)
}

/// `aio_bh_schedule_oneshot`: runs `cb(opaque)` once in `ctx`, then frees.
pub fn schedule_oneshot(ctx: &AioContext, cb: QEMUBHFunc, opaque: *mut c_void) {
    let bh = alloc(ctx, cb, opaque, ONESHOT);
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
    // SAFETY: a bottom half's context outlives it (QEMU's rule: delete
    // bottom halves before the last aio_context_unref).
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

/// Runs the scheduled bottom halves of `ctx`, frees deleted and one-shot
/// ones; returns whether any callback ran. Those scheduled meanwhile wait
/// for the next call.
pub fn poll(ctx: &AioContext) -> bool {
    let mut progress = false;
    for bh in ctx.bhs.take_all() {
        // SAFETY: a bottom half on the list is live until we free it here.
        let b = unsafe { &*bh };
        let flags = b.flags.fetch_and(!(PENDING | SCHEDULED), Ordering::AcqRel);
        // Pairs with the `release` in `enqueue`.
        sanitizer::acquire(bh.cast());
        if flags & (SCHEDULED | DELETED) == SCHEDULED {
            // SAFETY: the scheduler promised cb(opaque) is valid to call.
            unsafe { (b.cb)(b.opaque) };
            progress = true;
        }
        if flags & (DELETED | ONESHOT) != 0 {
            // SAFETY: deleted or one-shot: nobody may use it any more, and
            // it came from Box::into_raw in `alloc`.
            drop(unsafe { Box::from_raw(bh) });
        }
    }
    progress
}

/// Frees what is left on the list of a context being destroyed.
pub fn free_pending(ctx: &AioContext) {
    for bh in ctx.bhs.take_all() {
        // SAFETY: as in poll.
        let flags = unsafe { &*bh }.flags.load(Ordering::Acquire);
        if flags & (DELETED | ONESHOT) != 0 {
            // SAFETY: as in poll.
            drop(unsafe { Box::from_raw(bh) });
        }
    }
}
