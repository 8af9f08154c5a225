//! qemucoro: QEMU's coroutine API as a Rust library with a C ABI.
//!
//! C programs written against QEMU's `qemu/coroutine.h` compile against the
//! generated `include/coroutine.h` (through `include/qemu/coroutine.h`) and
//! link this package's static or shared library. This package is the top
//! layer, the C exports, grouped by concept, one module each; the layers
//! below are crates of the workspace (crates/):
//!
//!   util < switch < coroutine < locks < aio < this package
//!
//! Each C function converts pointers, rejects NULL with a message naming
//! itself, and calls safe Rust. A panic cannot unwind into C: the package is
//! built with `panic = "abort"`, and an `extern "C"` function aborts on
//! unwind regardless.

// C hands us raw pointers by design; each deref is checked for NULL and
// documented on the C side.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

// In the header's order (cbindgen follows it): the coroutine core first,
// then locks and queues, sleeping, the event loop, and qemucoro's extras.
mod aio;
mod aio_wait;
mod aiocb;
mod bh;
mod co_io;
mod dump;
mod error;
mod gsource;
mod iothread;
mod legacy;
mod sleep;
mod stats;
mod thread;
mod thread_pool;
mod timer;

// The coroutine core's and the locks' exports, shared with QEMU's full
// mode, and the pointer helpers every export uses.
pub(crate) use qemucoro_capi::{deref, deref_opt, entry_fn, init};
