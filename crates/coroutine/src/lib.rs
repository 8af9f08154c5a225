//! The coroutine layer: QEMU's `qemu-coroutine.c` and what it stands on.
//!
//! - co.rs: the `Coroutine` struct and its constants;
//! - ops.rs: create, enter, yield, terminate;
//! - thread_block.rs and current.rs: per-thread state (the running
//!   coroutine, the thread's AioContext), and init.rs: what a thread's
//!   first use of it sets up (the leader, the signal stack, the overflow
//!   handler and the fork handlers, once per process);
//! - pool.rs, registry.rs, wait.rs, stats.rs: where terminated coroutines
//!   wait, the list of all of them, what each waits for, the statistics;
//! - overflow.rs, fork.rs, unload.rs: stack overflow reports, fork, dlclose;
//! - event_loop.rs: the hooks the event loop above fills in; trace.rs:
//!   QEMU's trace points, through hooks a product fills in.
//!
//! Imports run down that list's dependencies only: init.rs sits above
//! what it sets up, and nothing below calls back into it.

mod co;
pub mod current;
pub mod event_loop;
mod fork;
mod init;
mod ops;
pub mod overflow;
pub mod pool;
pub mod registry;
pub mod stats;
mod thread_block;
pub mod trace;
mod unload;
pub mod wait;

pub use co::{CoList, Coroutine, CoroutineEntry, CoroutineEntryFn};
pub use co::{ACTION_ENTER, ACTION_YIELD, STATE_LIVE};
/// Only the sanitizer builds' yield stub has work for the yield's second half.
#[cfg(all(target_arch = "x86_64", any(feature = "asan", feature = "tsan")))]
pub use ops::yield_end;
pub use ops::{create, enter, in_coroutine, running_or_abort, wake, yield_now};
pub use ops::{die_stale, enter_begin, enter_end, yield_begin};
