//! How the library stops the process on misuse: one line on stderr, then
//! abort(), as QEMU does. Nothing here allocates, locks or unwinds.

use std::fmt::{self, Write};

use crate::line::Line;

/// Prints `msg` and a newline on stderr (one write, cut at 512 bytes),
/// then aborts (SIGABRT).
#[cold]
#[inline(never)]
pub fn die(msg: fmt::Arguments<'_>) -> ! {
    let mut line = Line::new();
    // Line's writes cannot fail; a message that long is cut.
    let _ = line.write_fmt(msg);
    line.push(b"\n");
    line.write_to_stderr();
    std::process::abort()
}

/// Aborts with a message naming the C function that was given a NULL pointer.
#[cold]
#[inline(never)]
pub fn null_arg(func: &str, what: &str) -> ! {
    die(format_args!("{func}: {what} must not be NULL"))
}

/// Defines, in a product that QEMU links, what a panic and an allocation
/// failure do there: one line and abort, as every misuse does.
/// qemu/build-backend.sh points core's call of std's panic entry
/// (`rust_begin_unwind`) and alloc's call of `__rust_alloc_error_handler`
/// at these two when it prelinks the archive, so that std's panic hook and
/// allocation-error hook, and the backtrace printer behind both (two
/// thirds of an archive's code), stay out of QEMU. A macro, so that each
/// QEMU archive has them and the C library (which keeps std's behaviour)
/// does not export them.
#[macro_export]
macro_rules! define_abort_hooks {
    () => {
        #[no_mangle]
        pub fn qemucoro_panic_abort(info: &core::panic::PanicInfo<'_>) -> ! {
            $crate::abort::die(format_args!("qemucoro: {info}"))
        }

        #[no_mangle]
        pub fn qemucoro_alloc_abort(size: usize, align: usize) -> ! {
            $crate::abort::die(format_args!(
                "qemucoro: out of memory allocating {size} bytes (alignment {align})"
            ))
        }
    };
}
