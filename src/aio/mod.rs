//! The event loop (QEMU's AioContext, `block/aio.h`): contexts, fd handlers,
//! bottom halves, timers, coroutines scheduled across threads, iothreads.
//!
//! Which context a thread runs: an iothread's own; the main context on the
//! process's main thread (bound on first use, so `qemu_coroutine_enter`
//! there records it); none elsewhere. Work that names no context (a
//! coroutine last entered on a thread running none) goes to the main one,
//! as QEMU's threads that hold the BQL do.

pub(crate) mod bh;
pub(crate) mod co_io;
pub(crate) mod context;
mod epoll;
pub(crate) mod fd_handler;
pub(crate) mod iothread;
mod push_list;
pub(crate) mod sleep;
pub(crate) mod timer;

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

pub use context::AioContext;

use crate::util::abort::die;
use crate::coroutine::event_loop::{self, EventLoop};
use crate::coroutine::{self, current, Coroutine};
use crate::util::sanitizer;

static MAIN: AtomicPtr<AioContext> = AtomicPtr::new(ptr::null_mut());

/// `qemu_get_aio_context`: the main context, created on first use and
/// never freed.
pub fn main_context() -> &'static AioContext {
    let mut ctx = MAIN.load(Ordering::Acquire);
    // TSan builds: pairs with the `release` of the thread that created it
    // (TSan sees its eventfd created there and used here).
    sanitizer::acquire(ptr::addr_of!(MAIN).cast());
    if ctx.is_null() {
        let new = AioContext::new().unwrap_or_else(|err| {
            die(format_args!("qemu_get_aio_context: cannot create the main loop: {err}"))
        });
        sanitizer::release(ptr::addr_of!(MAIN).cast());
        ctx = match MAIN.compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => new,
            Err(winner) => {
                // SAFETY: `new` lost the race and was never shared.
                unsafe { (*new).unref() };
                winner
            }
        };
    }
    // SAFETY: the main context holds its first reference forever.
    unsafe { &*ctx }
}

/// The context `ctx` stands for: itself, or the main one for null.
pub fn resolve<'a>(ctx: *mut c_void) -> &'a AioContext {
    // SAFETY: non-null context pointers handed around are live contexts
    // (their users hold references, as in QEMU).
    match unsafe { ctx.cast::<AioContext>().as_ref() } {
        Some(c) => c,
        None => main_context(),
    }
}

/// `qemu_get_current_aio_context`: the calling thread's context; the main
/// one for threads that run none.
pub fn current_context<'a>() -> &'a AioContext {
    resolve(current::aio_context())
}

/// `aio_co_schedule(ctx, co)`: `co` will be entered by `ctx`'s loop. Used
/// by `enter_in` for contexts of other threads.
pub fn schedule(ctx: *mut c_void, co: &Coroutine) {
    resolve(ctx).schedule(co, c"aio_co_schedule");
}

/// `aio_co_enter`: runs `co` in `ctx` now if `ctx` is this thread's; from
/// inside a coroutine, right after the running coroutine next yields or
/// terminates; and in another thread's context, by scheduling it there.
pub fn enter_in(ctx: *mut c_void, co: &Coroutine) {
    if ctx != current::aio_context() {
        schedule(ctx, co);
        return;
    }
    let me = current::running();
    if me.is_entered() {
        if ptr::eq(me, co) {
            die(format_args!("aio_co_enter: a coroutine cannot wake itself"));
        }
        me.wakeup.push_back(co);
    } else {
        coroutine::enter(ctx, co);
    }
}

/// `aio_co_wake`: re-enters `co` in the context it last ran in.
pub fn wake(co: &Coroutine) {
    enter_in(co.ctx.load(Ordering::Acquire), co);
}

/// What the coroutine core calls up for (coroutine/event_loop.rs).
static EVENT_LOOP: EventLoop = EventLoop { wake, main_context: main_context_ptr };

fn main_context_ptr() -> *mut c_void {
    main_context().as_ptr().cast()
}

/// Registers `EVENT_LOOP` with the core before `main` (and before any test
/// or constructor of a C program could create a coroutine): an ELF
/// constructor, so no entry point of ours has to check for it.
#[used]
#[link_section = ".init_array"]
static REGISTER: extern "C" fn() = register;

extern "C" fn register() {
    event_loop::register(&EVENT_LOOP);
}

/// What the bottom half of `reschedule_self` needs: on the coroutine's
/// stack, which stays put until the coroutine is re-entered.
struct Reschedule<'a> {
    co: &'a Coroutine,
    to: &'a AioContext,
}

unsafe extern "C" fn reschedule_bh(opaque: *mut c_void) {
    // SAFETY: `reschedule_self` passes a Reschedule that lives until the
    // coroutine runs again, which only this schedule can make happen.
    let r = unsafe { &*opaque.cast::<Reschedule>() };
    r.to.schedule(r.co, c"aio_co_schedule");
}

/// `aio_co_reschedule_self`: moves the running coroutine to `to`. The
/// schedule is made by a bottom half of the current context, after the
/// coroutine has yielded, so the new context cannot enter it too early.
pub fn reschedule_self(to: &AioContext) {
    let co = coroutine::running_or_abort("aio_co_reschedule_self");
    let from = current_context();
    if ptr::eq(from, to) {
        return;
    }
    let r = Reschedule { co, to };
    bh::schedule_oneshot(from, reschedule_bh, ptr::from_ref(&r).cast_mut().cast());
    coroutine::yield_now();
}
