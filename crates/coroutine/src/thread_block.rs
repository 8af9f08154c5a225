//! The hot per-thread state: the running coroutine, the thread's
//! AioContext and the pool's free list, laid over the switch's thread
//! block. It is the bottom of the coroutine module: it imports nothing of
//! it but the `Coroutine` type, so that everything that reads per-thread
//! state (current.rs, pool.rs, the overflow handler) can without a circle.
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
//! per access). Only the cold leader stays in a `thread_local!` (init.rs).

use std::cell::Cell;
use std::ffi::c_void;
use std::mem::size_of;

use crate::Coroutine;
use qemucoro_switch as switch;

/// The hot per-thread state, laid over `qemucoro_tls` (zeroed at thread
/// start, so every field starts null / 0 / false).
#[repr(C)]
pub struct ThreadBlock {
    /// The running coroutine (the switch's fiber base, as the QEMU
    /// backend's block has it).
    pub current: switch::Current<Coroutine>,
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
pub fn block() -> &'static ThreadBlock {
    // SAFETY: qemucoro_tls is THREAD_BLOCK_SIZE zeroed, 64-byte aligned
    // bytes per thread, which is a valid ThreadBlock (all fields are Cells
    // of plain data), touched only by its own thread.
    unsafe { &*switch::thread_block().cast::<ThreadBlock>() }
}

/// The running coroutine, or null if this thread never touched coroutine
/// state; initialises nothing, so a signal handler may call it.
#[inline(always)]
pub fn peek() -> *const Coroutine {
    block().current.peek()
}
