//! QEMU's `struct Coroutine` (qemu/coroutine_int.h) as both QEMU products
//! lay it out: the switch backend's mirror and, in full mode, the head of
//! the core's own `Coroutine`. One table of word offsets for both; the C
//! side checks the same table against QEMU's headers
//! (qemu/coroutine-qemucoro-layout.h).

/// QEMU's struct, in pointer-sized words (every field is one word but the
/// wake-up queue's head, which is two).
pub const QEMU_COROUTINE_WORDS: usize = 11;

/// Asserts at compile time that `$t`'s fields named here sit where QEMU's
/// `entry`, `entry_arg`, `caller`, `pool_next`, `locks_held`, `ctx`,
/// `scheduled`, `co_queue_next`, `co_queue_wakeup` and `co_scheduled_next`
/// do. The size is each caller's to check: the mirror is exactly
/// `QEMU_COROUTINE_WORDS` long, the core's struct goes on past it.
#[macro_export]
macro_rules! assert_qemu_coroutine_layout {
    ($t:ty { $entry:ident, $entry_arg:ident, $caller:ident, $pool_next:ident,
             $locks_held:ident, $ctx:ident, $scheduled:ident, $queue_next:ident,
             $wakeup:ident, $scheduled_next:ident }) => {
        const _: () = {
            use ::std::mem::{offset_of, size_of};
            const W: usize = size_of::<usize>();
            assert!(offset_of!($t, $entry) == 0);
            assert!(offset_of!($t, $entry_arg) == W);
            assert!(offset_of!($t, $caller) == 2 * W);
            assert!(offset_of!($t, $pool_next) == 3 * W);
            assert!(offset_of!($t, $locks_held) == 4 * W);
            assert!(offset_of!($t, $ctx) == 5 * W);
            assert!(offset_of!($t, $scheduled) == 6 * W);
            assert!(offset_of!($t, $queue_next) == 7 * W);
            assert!(offset_of!($t, $wakeup) == 8 * W);
            assert!(offset_of!($t, $scheduled_next) == 10 * W);
        };
    };
}
