//! The bottom layer: what every other layer may use and that uses nothing
//! of ours: the abort path, views of C-shared fields as atomics, the
//! spinlock, the mapping limit and count, and what the sanitizers must be
//! told.

pub mod abort;
#[cfg(not(feature = "qemu-backend"))]
pub mod atomic_view;
pub mod maps;
pub mod mutex;
pub mod sanitizer;
#[cfg(not(feature = "qemu-backend"))]
pub mod spin;
