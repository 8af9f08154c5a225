//! The bottom layer: what every other layer may use and that uses nothing
//! of ours: the abort path, views of C-shared fields as atomics, the
//! spinlock, what the sanitizers must be told, and naming a function from
//! its address inside a signal handler.

pub mod abort;
#[cfg(not(feature = "qemu-backend"))]
pub mod atomic_view;
pub mod mutex;
pub mod sanitizer;
#[cfg(not(feature = "qemu-backend"))]
pub mod spin;
#[cfg(not(feature = "qemu-backend"))]
pub mod symbol;
