//! The event loop (QEMU's AioContext, `block/aio.h`): contexts, fd handlers,
//! bottom halves, timers, coroutines scheduled across threads, iothreads,
//! the thread pool and its requests, and waiting for a condition by polling.
//!
//! Which context a thread runs: an iothread's own; the main context on the
//! process's main thread (bound on first use, so `qemu_coroutine_enter`
//! there records it); the one it set with `qemu_set_current_aio_context`;
//! none elsewhere, as in QEMU for threads that do not hold its BQL. What
//! needs a loop (sleeping, waiting for an fd, moving a coroutine, waking one
//! from another thread) aborts there with a message instead: no loop would
//! ever run it.

pub mod aio_wait;
pub mod aiocb;
pub mod bh;
pub mod co_io;
pub mod context;
pub mod dump;
mod epoll;
pub mod fd_handler;
pub mod iothread;
mod poll_mode;
mod push_list;
pub mod sleep;
pub mod thread_pool;
pub mod timer;

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};

pub use context::AioContext;

use qemucoro_coroutine::event_loop::{self, EventLoop};
use qemucoro_coroutine::{self as coroutine, current, Coroutine};
use qemucoro_util::abort::die;
use qemucoro_util::sanitizer;

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
            die(format_args!(
                "qemu_get_aio_context: cannot create the main loop: {err}"
            ))
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

/// `qemu_get_current_aio_context`: the calling thread's context, or None
/// on a thread that runs none.
pub fn current_context<'a>() -> Option<&'a AioContext> {
    // SAFETY: a thread's context outlives its use as the thread's context
    // (an iothread's is dropped after the thread ends, the main one never).
    unsafe { current::aio_context().cast::<AioContext>().as_ref() }
}

/// The calling thread's context, for `func`, which cannot work without one.
pub fn require_context<'a>(func: &str) -> &'a AioContext {
    current_context()
        .unwrap_or_else(|| die(format_args!("{func}: the calling thread has no AioContext")))
}

/// `qemu_set_current_aio_context`: makes `ctx` the calling thread's own,
/// once; a thread that already has one aborts (QEMU asserts).
pub fn set_current_context(ctx: &AioContext) {
    if !current::aio_context().is_null() {
        die(format_args!(
            "qemu_set_current_aio_context: the thread already has an AioContext"
        ));
    }
    current::set_aio_context(ctx.as_ptr().cast());
}

/// Checks that `ctx` is the calling thread's own context, the only one it
/// may poll (QEMU asserts `in_aio_context_home_thread`): polling another
/// thread's would run that thread's coroutines here.
pub fn check_home_thread(ctx: &AioContext) {
    if current::aio_context() != ctx.as_ptr().cast() {
        die(format_args!(
            "aio_poll: ctx is not the calling thread's AioContext"
        ));
    }
}

/// `aio_co_schedule(ctx, co)` for a coroutine woken from another thread
/// than the one it last ran on (`coroutine::enter_in`). A coroutine that
/// last ran on a thread with no context has no loop to go to.
pub fn schedule(ctx: *mut c_void, co: &Coroutine) {
    // SAFETY: non-null context pointers handed around are live contexts
    // (their users hold references, as in QEMU).
    match unsafe { ctx.cast::<AioContext>().as_ref() } {
        Some(c) => c.schedule(co, c"aio_co_schedule"),
        None => die(format_args!(
            "aio_co_wake: the coroutine last ran on a thread with no AioContext, \
             and the waker is on another thread"
        )),
    }
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
static EVENT_LOOP: EventLoop = EventLoop {
    wake,
    default_context,
};

thread_local! {
    /// Whether this thread was already asked for its default context.
    static CHECKED: Cell<bool> = const { Cell::new(false) };
}

/// The context of a thread that has not set one: the main context on the
/// main thread (recorded, so this runs once there), null elsewhere.
fn default_context() -> *mut c_void {
    if CHECKED.with(|c| c.replace(true)) {
        return ptr::null_mut();
    }
    // SAFETY: plain system calls without arguments.
    let main_thread = unsafe { libc::syscall(libc::SYS_gettid) == libc::getpid() as libc::c_long };
    if !main_thread {
        return ptr::null_mut();
    }
    let ctx = main_context().as_ptr().cast();
    current::set_aio_context(ctx);
    ctx
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
    let from = require_context("aio_co_reschedule_self");
    if ptr::eq(from, to) {
        return;
    }
    let r = Reschedule { co, to };
    bh::schedule_oneshot(
        from,
        reschedule_bh,
        ptr::from_ref(&r).cast_mut().cast(),
        c"aio_co_reschedule_self_bh",
    );
    coroutine::yield_now();
}
