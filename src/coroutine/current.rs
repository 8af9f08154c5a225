//! Per-thread state: the running coroutine, the thread's leader, its
//! AioContext and the pool's free list, in the switch's thread block.
//!
//! **TLS across threads.** A coroutine can suspend on one thread and resume
//! on another, and a compiler treats a thread-local's address as constant
//! within a function: it may compute it once and keep it in a register
//! across a call, so code that touched a thread-local before a switch and
//! after it could, after migrating, use the *old* thread's slot. Our hot
//! per-thread fields live in `qemucoro_tls` (switch/arch), whose address
//! comes from an asm statement that the compiler must treat as having side
//! effects: it runs again at every access and is never merged with an
//! earlier one, so every access after a switch reads the thread it is on,
//! however much is inlined. The one rule left is plain Rust: `block()`'s
//! reference is used at once and never held across a switch.
//!
//! The block is reached with the initial-exec TLS model even in the shared
//! library (Rust's own `thread_local!` is general-dynamic there: a call
//! per access). Only the cold leader itself stays in a `thread_local!`.

use std::cell::Cell;
use std::ffi::c_void;
use std::mem::{size_of, ManuallyDrop};
use std::ptr;

use crate::coroutine::Coroutine;
use crate::switch;

/// The hot per-thread state, laid over `qemucoro_tls` (zeroed at thread
/// start, so every field starts null / 0 / false).
#[repr(C)]
pub(crate) struct ThreadBlock {
    /// The running coroutine; null until the thread first needs one, then
    /// the leader outside any coroutine.
    pub current: Cell<*const Coroutine>,
    /// The AioContext that `qemu_coroutine_enter` records (opaque here;
    /// the event loop sets it for the threads that run one).
    pub aio_context: Cell<*mut c_void>,
    /// The pool's free list (pool.rs).
    pub pool_head: Cell<*const Coroutine>,
    pub pool_len: Cell<usize>,
    pub pool_armed: Cell<bool>,
}

const _: () = assert!(size_of::<ThreadBlock>() <= switch::THREAD_BLOCK_SIZE);

/// This thread's block. Use the reference at once: never across a switch.
#[inline(always)]
pub(crate) fn block() -> &'static ThreadBlock {
    // SAFETY: qemucoro_tls is THREAD_BLOCK_SIZE zeroed, 64-byte aligned
    // bytes per thread, which is a valid ThreadBlock (all fields are Cells
    // of plain data), touched only by its own thread.
    unsafe { &*switch::thread_block().cast::<ThreadBlock>() }
}

thread_local! {
    /// Stands for the thread's own stack, so that `caller` always has
    /// somewhere to point and `qemu_coroutine_self()` is never NULL.
    /// Never dropped (it owns no stack, so there is nothing to drop): a
    /// destructor registered by a thread's first use in a pthread key
    /// destructor would never run, and glibc's record of it would leak.
    static LEADER: ManuallyDrop<Coroutine> = const { ManuallyDrop::new(Coroutine::blank()) };
    /// Whether this thread was already asked for its default context.
    static CHECKED: Cell<bool> = const { Cell::new(false) };
}

/// The running coroutine, or this thread's leader outside any coroutine.
#[inline(always)]
pub fn get() -> *const Coroutine {
    let cur = block().current.get();
    if cur.is_null() {
        return adopt_leader();
    }
    cur
}

/// First use of coroutine state on this thread: the leader becomes the
/// running coroutine, and the thread gets what overflow reports need.
#[cold]
#[inline(never)]
pub(crate) fn adopt_leader() -> *const Coroutine {
    let leader = LEADER.with(|l| ptr::from_ref::<Coroutine>(l));
    block().current.set(leader);
    crate::coroutine::overflow::thread_init();
    leader
}

/// The running coroutine, or null if this thread never touched coroutine
/// state; initialises nothing, so a signal handler may call it.
#[inline(always)]
pub fn peek() -> *const Coroutine {
    block().current.get()
}

/// Makes `co` the running coroutine.
#[inline(always)]
pub fn set(co: *const Coroutine) {
    block().current.set(co);
}

/// The calling thread's AioContext, or null if it runs none. The main
/// thread runs the main context, bound here on first use.
#[inline(always)]
pub fn aio_context() -> *mut c_void {
    let ctx = block().aio_context.get();
    if ctx.is_null() {
        return thread_default_context();
    }
    ctx
}

/// Records the AioContext the calling thread runs.
#[inline(always)]
pub fn set_aio_context(ctx: *mut c_void) {
    block().aio_context.set(ctx);
}

/// The context of a thread that has not set one: the main context on the
/// main thread (recorded, so this runs once), null elsewhere.
#[cold]
#[inline(never)]
pub(crate) fn thread_default_context() -> *mut c_void {
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
