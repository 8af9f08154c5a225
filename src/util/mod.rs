//! The bottom layer: what every other layer may use and that uses nothing
//! of ours: the abort path, views of C-shared fields as atomics, the
//! spinlock, the mapping limit and count, what the sanitizers must be told,
//! naming a function from its address inside a signal handler, and hooks
//! that run when a thread exits.

pub(crate) mod abort;
#[cfg(not(feature = "qemu-backend"))]
pub(crate) mod atomic_view;
#[cfg(not(feature = "qemu-backend"))]
pub(crate) mod list;
pub(crate) mod map_count;
pub(crate) mod mutex;
pub(crate) mod sanitizer;
#[cfg(not(feature = "qemu-backend"))]
pub(crate) mod spin;
#[cfg(not(feature = "qemu-backend"))]
pub(crate) mod symbol;
#[cfg(not(feature = "qemu-backend"))]
pub(crate) mod thread_exit;
