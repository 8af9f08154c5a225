//! Asynchronous requests (QEMU's `BlockAIOCB`, `block/aio.h`): the common
//! head of every request that completes through a callback, its reference
//! count, and cancelling (`bdrv_aio_cancel`, `bdrv_aio_cancel_async`).
//!
//! A request type embeds `BlockAIOCB` first and describes itself with an
//! `AIOCBInfo` (its size and how to cancel it). Requests are owned by the
//! context that submitted them: the count and the callbacks are touched on
//! that context's thread only, as in QEMU.

use std::cell::Cell;
use std::ffi::{c_int, c_void};
use std::ptr;

use super::aio_wait;
use qemucoro_util::abort::die;

/// Stands for QEMU's block device; only ever passed around by pointer.
pub struct BlockDriverState {
    _private: [u8; 0],
}

/// `void BlockCompletionFunc(void *opaque, int ret)`.
pub type BlockCompletionFunc = unsafe extern "C" fn(opaque: *mut c_void, ret: c_int);

/// Stands for QEMU's function type `BlockCompletionFunc`; never
/// instantiated.
#[repr(C)]
pub struct BlockCompletionFuncFn {
    _opaque: [u8; 0],
}

/// What a type of request has in common: its size (what `qemu_aio_get`
/// allocates) and how to cancel one (NULL: it cannot be cancelled).
#[repr(C)]
pub struct AIOCBInfo {
    pub cancel_async: Option<unsafe extern "C" fn(acb: *mut BlockAIOCB)>,
    pub aiocb_size: usize,
}

/// The head of an asynchronous request: `cb(opaque, ret)` runs once when
/// it completes (or is cancelled, with ret -ECANCELED). Made by
/// `qemu_aio_get`, freed by the `qemu_aio_unref` that drops the last
/// reference.
#[repr(C)]
pub struct BlockAIOCB {
    pub aiocb_info: *const AIOCBInfo,
    pub bs: *mut BlockDriverState,
    pub cb: *mut BlockCompletionFuncFn,
    pub opaque: *mut c_void,
    pub refcnt: Cell<c_int>,
}

#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<BlockAIOCB>() == 40 && align_of::<BlockAIOCB>() == 8);

impl BlockAIOCB {
    /// The completion callback, if any.
    pub fn callback(&self) -> Option<BlockCompletionFunc> {
        if self.cb.is_null() {
            return None;
        }
        // SAFETY: `cb` was given as a BlockCompletionFunc and is not NULL.
        Some(unsafe {
            std::mem::transmute::<*mut BlockCompletionFuncFn, BlockCompletionFunc>(self.cb)
        })
    }
}

/// `qemu_aio_get`: allocates `info.aiocb_size` bytes (at least a
/// `BlockAIOCB`) with the head filled in and one reference; the rest of
/// the request is the caller's to fill.
pub fn get(
    info: &'static AIOCBInfo,
    bs: *mut BlockDriverState,
    cb: *mut BlockCompletionFuncFn,
    opaque: *mut c_void,
) -> *mut BlockAIOCB {
    if info.aiocb_size < size_of::<BlockAIOCB>() {
        die(format_args!(
            "qemu_aio_get: aiocb_size {} is smaller than a BlockAIOCB",
            info.aiocb_size
        ));
    }
    // SAFETY: malloc of a non-zero size; NULL checked below.
    let acb = unsafe { libc::malloc(info.aiocb_size) }.cast::<BlockAIOCB>();
    if acb.is_null() {
        die(format_args!("qemu_aio_get: out of memory"));
    }
    // SAFETY: fresh memory of at least a BlockAIOCB; malloc aligns for it.
    unsafe {
        acb.write(BlockAIOCB {
            aiocb_info: info,
            bs,
            cb,
            opaque,
            refcnt: Cell::new(1),
        })
    };
    acb
}

/// `qemu_aio_ref`.
pub fn add_ref(acb: &BlockAIOCB) {
    acb.refcnt.set(acb.refcnt.get() + 1);
}

/// `qemu_aio_unref`: frees the request with its last reference.
///
/// # Safety
/// `acb` comes from `get` and the caller owns one of its references, which
/// it gives up; nobody may use the request after its last one goes.
pub unsafe fn unref(acb: *mut BlockAIOCB) {
    // SAFETY: live while the caller holds its reference.
    let a = unsafe { &*acb };
    let n = a.refcnt.get();
    if n <= 0 {
        die(format_args!(
            "qemu_aio_unref: the request has no reference left"
        ));
    }
    a.refcnt.set(n - 1);
    if n == 1 {
        // SAFETY: the last reference; the memory came from malloc in `get`
        // (the request's own fields are plain data, nothing to drop).
        unsafe { libc::free(acb.cast()) };
    }
}

/// `bdrv_aio_cancel_async`: asks the request's type to cancel it. The
/// callback still runs once, later: with -ECANCELED if the cancel won, or
/// with the request's own result if it had already started or finished.
pub fn cancel_async(acb: &BlockAIOCB) {
    // SAFETY: every request points at the static AIOCBInfo of its type.
    let info = unsafe { &*acb.aiocb_info };
    if let Some(cancel) = info.cancel_async {
        // SAFETY: the type's own hook, given one of its requests.
        unsafe { cancel(ptr::from_ref(acb).cast_mut()) };
    }
}

/// `bdrv_aio_cancel`: cancels like `cancel_async`, then runs the main loop
/// until the request has completed (its callback has run and dropped its
/// reference). Called from the main loop's thread.
///
/// # Safety
/// `acb` is a live request (its callback has not run yet).
pub unsafe fn cancel(acb: *mut BlockAIOCB) {
    // SAFETY: live, as the caller promised; our reference keeps it so.
    let a = unsafe { &*acb };
    add_ref(a);
    cancel_async(a);
    let ctx = aio_wait::begin(None);
    while a.refcnt.get() > 1 {
        ctx.poll(true);
    }
    aio_wait::end();
    // SAFETY: drops the reference taken above.
    unsafe { unref(acb) };
}
