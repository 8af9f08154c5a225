//! qemucoro: QEMU's coroutine API as a Rust library with a C ABI.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod stack;
pub mod switch;

// --features qemu-backend: only the stack switch plus the backend QEMU links
// in place of util/coroutine-ucontext.c. The crate's own C API modules must
// be cfg(not(feature = "qemu-backend")) so their symbols (which QEMU defines
// itself) stay out of that archive.
#[cfg(feature = "qemu-backend")]
pub mod qemu_backend;
