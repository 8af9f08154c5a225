//! qemucoro: QEMU's coroutine API as a Rust library with a C ABI.
//!
//! C programs written against QEMU's `qemu/coroutine.h` compile against the
//! generated `include/coroutine.h` (through `include/qemu/coroutine.h`) and
//! link this crate's static or shared library. Stacks are switched by
//! corosensei; everything else (the pool, the TLS discipline, the checks that
//! turn misuse into a clear abort) is here.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod abort;
pub mod aio;
pub mod atomic_view;
pub mod capi;
pub mod co_io;
pub mod co_mutex;
pub mod co_queue;
pub mod co_rwlock;
pub mod coroutine;
pub mod current;
#[cfg(feature = "bench-floor")]
pub mod floor;
pub mod lockable;
pub mod overflow;
pub mod pool;
pub mod registry;
pub mod sanitizer;
pub mod sleep;
pub mod spin;
pub mod stack;
pub mod stats;
pub mod switch;
pub mod wakeup;
