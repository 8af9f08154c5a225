//! Per-thread state: the running coroutine and the thread's leader.
//!
//! Every access to thread-local storage in this crate goes through the
//! `#[inline(never)]` functions here, and none of them switches stacks.
//! That is what keeps TLS sound when a coroutine yields on one thread and is
//! resumed on another: LLVM treats a thread-local's address as constant within
//! one function and may keep it in a register across a call, so a function
//! that both switched and touched TLS directly could, after migrating, read
//! the *old* thread's slot. Callers that span a switch (yield, lock waits)
//! therefore call these accessors again after the switch instead of holding
//! on to anything they returned earlier, except plain coroutine pointers,
//! which are thread-independent.

use std::cell::Cell;
use std::ffi::c_void;
use std::ptr;

use crate::coroutine::Coroutine;

struct ThreadState {
    /// The running coroutine; null until first asked for, then the leader.
    current: Cell<*const Coroutine>,
    /// Stands for the thread's own stack, so that `caller` always has
    /// somewhere to point and `qemu_coroutine_self()` is never NULL.
    leader: Coroutine,
    /// The AioContext that `qemu_coroutine_enter` records (opaque here; the
    /// event loop sets it for the threads that run one).
    aio_context: Cell<*mut c_void>,
}

thread_local! {
    static STATE: ThreadState = const {
        ThreadState {
            current: Cell::new(ptr::null()),
            leader: Coroutine::blank(),
            aio_context: Cell::new(ptr::null_mut()),
        }
    };
}

/// The running coroutine, or this thread's leader outside any coroutine.
#[inline(never)]
pub fn get() -> *const Coroutine {
    STATE.with(|s| {
        let cur = s.current.get();
        if !cur.is_null() {
            return cur;
        }
        let leader: *const Coroutine = &s.leader;
        s.current.set(leader);
        crate::coroutine::overflow::thread_init();
        leader
    })
}

/// The running coroutine, or null if this thread never touched coroutine
/// state; initialises nothing, so a signal handler may call it.
#[inline(never)]
pub fn peek() -> *const Coroutine {
    STATE.with(|s| s.current.get())
}

/// Makes `co` the running coroutine.
#[inline(never)]
pub fn set(co: *const Coroutine) {
    STATE.with(|s| s.current.set(co));
}

/// The enter path's one TLS access: makes `to` the running coroutine and
/// returns the coroutine it replaces (the leader if none ran yet) and the
/// thread's AioContext (as `aio_context` gives it, so that the main thread's
/// first enter binds the main context rather than recording none).
#[inline(never)]
pub fn enter_switch(to: *const Coroutine) -> (*const Coroutine, *mut c_void) {
    let (from, mut ctx) = STATE.with(|s| {
        let old = s.current.replace(to);
        let from = if old.is_null() {
            crate::coroutine::overflow::thread_init();
            &s.leader
        } else {
            old
        };
        (from, s.aio_context.get())
    });
    // A thread that set no context yet: the main thread binds the main one
    // on first use (as `aio_context` does), other threads have none.
    if ctx.is_null() {
        ctx = thread_default_context();
    }
    (from, ctx)
}

/// The yield path's one TLS access: if the running coroutine has a caller,
/// makes the caller the running one and returns the coroutine that is
/// leaving; otherwise changes nothing and returns null.
#[inline(never)]
pub fn yield_switch() -> *const Coroutine {
    STATE.with(|s| {
        // SAFETY: `current` is null or the running coroutine, live while it runs.
        let Some(me) = (unsafe { s.current.get().as_ref() }) else { return std::ptr::null() };
        let caller = me.caller.get();
        if caller.is_null() {
            return std::ptr::null();
        }
        s.current.set(caller);
        me
    })
}

/// The calling thread's AioContext, or null if it runs none. The main
/// thread runs the main context, bound here on first use.
#[inline(never)]
pub fn aio_context() -> *mut c_void {
    let ctx = STATE.with(|s| s.aio_context.get());
    if ctx.is_null() {
        return thread_default_context();
    }
    ctx
}

thread_local! {
    /// Whether this thread was already asked for its default context.
    static CHECKED: Cell<bool> = const { Cell::new(false) };
}

/// The context of a thread that has not set one: the main context on the
/// main thread (recorded, so this runs once), null elsewhere. Like the
/// accessors above, never inlined and never switches.
#[inline(never)]
fn thread_default_context() -> *mut c_void {
    if CHECKED.with(|c| c.replace(true)) {
        return ptr::null_mut();
    }
    // SAFETY: plain system calls without arguments.
    let main_thread = unsafe { libc::syscall(libc::SYS_gettid) == libc::getpid() as libc::c_long };
    if !main_thread {
        return ptr::null_mut();
    }
    let ctx = super::event_loop::main_context();
    set_aio_context(ctx);
    ctx
}

/// Records the AioContext the calling thread runs.
#[inline(never)]
pub fn set_aio_context(ctx: *mut c_void) {
    STATE.with(|s| s.aio_context.set(ctx));
}

/// The running coroutine (or the leader) as a reference, for the lock code.
/// It points at the coroutine itself, not at a TLS slot, so it stays valid
/// across a switch; use it only until that coroutine terminates, after
/// which the pool may recycle or free it.
pub fn running() -> &'static Coroutine {
    // SAFETY: `get` returns the running coroutine, live until it terminates
    // (callers keep the reference no longer, as documented above), or the
    // thread's leader, live as long as the thread.
    unsafe { &*get() }
}
