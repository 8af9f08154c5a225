//! How the library stops the process on misuse: one line on stderr, then
//! abort(), as QEMU does. Nothing here allocates or unwinds.

use std::fmt;
use std::io::Write;

/// Prints `msg` and a newline on stderr, then aborts (SIGABRT).
#[cold]
#[inline(never)]
pub fn die(msg: fmt::Arguments<'_>) -> ! {
    let mut err = std::io::stderr().lock();
    // Nothing useful can be done if stderr is gone: abort regardless.
    let _ = err.write_fmt(msg);
    let _ = err.write_all(b"\n");
    let _ = err.flush();
    std::process::abort()
}

/// Aborts with a message naming the C function that was given a NULL pointer.
#[cold]
#[inline(never)]
pub fn null_arg(func: &str, what: &str) -> ! {
    die(format_args!("{func}: {what} must not be NULL"))
}
