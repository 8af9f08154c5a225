//! qemucoro: QEMU's coroutine API as a Rust library with a C ABI.
//!
//! C programs written against QEMU's `qemu/coroutine.h` compile against the
//! generated `include/coroutine.h` (through `include/qemu/coroutine.h`) and
//! link this crate's static or shared library. Stacks are switched by our
//! own assembly (src/switch/arch/); everything else (the pool, the TLS
//! discipline, the checks that turn misuse into a clear abort) is here.
//!
//! One folder per layer; a module imports only the layers below its own
//! (`make check-layers` enforces it):
//!
//!   util < switch < coroutine < locks < aio < capi;  qemu_backend on util + switch
//!
//! `--features qemu-backend` builds only util, switch and the backend QEMU
//! links in place of util/coroutine-ucontext.c (docs/qemu-backend.md); the
//! C API is compiled out, since QEMU defines those symbols itself.

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
// The C types keep QEMU's spelling (QEMUBH, QEMUTimer) so a reader finds them.
#![allow(clippy::upper_case_acronyms)]

#[cfg(not(feature = "qemu-backend"))]
pub(crate) mod aio;
#[cfg(not(feature = "qemu-backend"))]
pub(crate) mod capi;
#[cfg(not(feature = "qemu-backend"))]
pub(crate) mod coroutine;
#[cfg(not(feature = "qemu-backend"))]
pub(crate) mod locks;
/// cbindgen:ignore
#[cfg(feature = "qemu-backend")]
mod qemu_backend;
pub(crate) mod switch;
pub(crate) mod util;
