//! The bottom layer: what every other layer may use and that uses nothing
//! of ours: the abort path, views of C-shared fields as atomics, the
//! spinlock, one line for stderr, the mapping limit and count, QEMU's struct Coroutine layout, what the sanitizers must be told,
//! naming a function from its address inside a signal handler, and hooks
//! that run when a thread exits.

pub mod abort;
pub mod atomic_view;
pub mod line;
pub mod list;
pub mod map_count;
pub mod mutex;
pub mod qemu_layout;
pub mod sanitizer;
pub mod spin;
pub mod symbol;
pub mod thread_exit;
