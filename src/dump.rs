//! C exports of the hang dump (aio/dump.rs) and its opt-in signal. Not in
//! QEMU.

use std::ffi::{c_int, CStr};

use qemucoro_aio::dump;

/// Writes the hang dump to `fd`: every live coroutine with what it waits
/// for (a CoMutex or CoRwlock and its holders, a CoQueue, a sleep and its
/// time left, an fd, a schedule, or a plain yield and who entered it last)
/// and for how long, then every deadlock cycle among them and every wait on
/// a lock that no live coroutine holds. Not in QEMU.
///
/// Safe to call from any thread while the others run (not from a signal
/// handler: it takes a lock and allocates; see `QEMUCORO_DUMP_SIGNAL`).
/// The text is a snapshot: coroutines that run meanwhile may have moved on.
#[no_mangle]
pub extern "C" fn qemucoro_dump(fd: c_int) {
    dump::dump_to_fd(fd);
}

/// With `QEMUCORO_DUMP_SIGNAL` set (a name such as `SIGUSR2`, or a
/// number), that signal prints the dump to stderr: installed before
/// `main`, from an ELF constructor.
#[used]
#[link_section = ".init_array"]
static INSTALL: extern "C" fn() = install_from_env;

extern "C" fn install_from_env() {
    // SAFETY: getenv with a NUL-terminated name, before main: no thread
    // of the program can be changing the environment yet.
    let value = unsafe { libc::getenv(c"QEMUCORO_DUMP_SIGNAL".as_ptr()) };
    if value.is_null() {
        return;
    }
    // SAFETY: getenv returned a NUL-terminated string.
    let value = unsafe { CStr::from_ptr(value) };
    let Some(sig) = dump::parse_signal(value) else {
        eprintln!(
            "qemucoro: QEMUCORO_DUMP_SIGNAL={}: not a signal name or number; no dump signal",
            value.to_string_lossy()
        );
        return;
    };
    if let Err(err) = dump::install_signal(sig) {
        eprintln!("qemucoro: QEMUCORO_DUMP_SIGNAL: cannot install: {err}");
    }
}
