//! qemucoro: QEMU's coroutine API as a Rust library with a C ABI.
//!
//! C programs written against QEMU's `qemu/coroutine.h` compile against the
//! generated `include/coroutine.h` (through `include/qemu/coroutine.h`) and
//! link this crate's static or shared library. Stacks are switched by
//! corosensei; everything else (the pool, the TLS discipline, the checks that
//! turn misuse into a clear abort) is here.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
// In qemu-backend mode parts of stack/switch go unused.
#![cfg_attr(feature = "qemu-backend", allow(dead_code))]

pub mod abort;
#[cfg(not(feature = "qemu-backend"))]
pub mod aio;
#[cfg(not(feature = "qemu-backend"))]
pub mod atomic_view;
#[cfg(not(feature = "qemu-backend"))]
pub mod capi;
#[cfg(not(feature = "qemu-backend"))]
pub mod co_io;
#[cfg(not(feature = "qemu-backend"))]
pub mod co_mutex;
#[cfg(not(feature = "qemu-backend"))]
pub mod co_queue;
#[cfg(not(feature = "qemu-backend"))]
pub mod co_rwlock;
#[cfg(not(feature = "qemu-backend"))]
pub mod coroutine;
#[cfg(not(feature = "qemu-backend"))]
pub mod current;
/// cbindgen:ignore
#[cfg(feature = "bench-floor")]
pub mod floor;
#[cfg(not(feature = "qemu-backend"))]
mod fork;
#[cfg(not(feature = "qemu-backend"))]
pub mod lockable;
#[cfg(not(feature = "qemu-backend"))]
pub mod overflow;
#[cfg(not(feature = "qemu-backend"))]
pub mod pool;
#[cfg(not(feature = "qemu-backend"))]
pub mod registry;
pub mod sanitizer;
#[cfg(not(feature = "qemu-backend"))]
pub mod sleep;
#[cfg(not(feature = "qemu-backend"))]
pub mod spin;
pub mod stack;
#[cfg(not(feature = "qemu-backend"))]
pub mod stats;
#[cfg(not(feature = "qemu-backend"))]
mod symbol;
pub mod switch;
#[cfg(not(feature = "qemu-backend"))]
pub mod wakeup;

// --features qemu-backend builds only abort, sanitizer, stack and switch plus
// the backend QEMU links in place of util/coroutine-ucontext.c
// (docs/qemu-backend.md); the C API above is compiled out, since QEMU defines
// those symbols itself. It is not part of the C API, so cbindgen skips it.
/// cbindgen:ignore
#[cfg(feature = "qemu-backend")]
mod qemu_backend;
