//! QEMU's `Error` (qapi/error.h) and error reporting (qemu/error-report.h):
//! an error carries its message and where it was set; `&error_abort` and
//! `&error_fatal` as the destination end the process at the error, as in
//! QEMU. The variadic front ends (error_setg, error_report ...) are inline
//! C in those headers: they format the message and call in here.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::io::Write;
use std::ptr::{addr_of_mut, null_mut};

use super::deref;
use qemucoro_util::abort::die;

/// An error message: opaque to C. Read it with `error_get_pretty`, free it
/// with `error_free`.
pub struct Error {
    msg: CString,
    func: String,
    src: String,
    line: c_int,
}

/// Pass `&error_abort` as `errp` to abort at an error, printing where it
/// was set and its message (QEMU's "Unexpected error in ..." report).
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut error_abort: *mut Error = null_mut();

/// Pass `&error_fatal` as `errp` to report an error and exit(1) at it.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static mut error_fatal: *mut Error = null_mut();

/// What an error_report-style line is: an error, a warning or information.
#[derive(Clone, Copy)]
enum Report {
    Error,
    Warning,
    Info,
}

/// GLib's program name, if the program uses GLib and has set one (as
/// g_test_init and QEMU's error_init do); QEMU prefixes its reports with it.
fn glib_prgname() -> Option<String> {
    type GetPrgname = unsafe extern "C" fn() -> *const c_char;
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only looks
    // the symbol up in the loaded objects.
    let sym = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"g_get_prgname".as_ptr()) };
    if sym.is_null() {
        return None;
    }
    // SAFETY: the symbol is GLib's g_get_prgname, of this type.
    let get: GetPrgname = unsafe { std::mem::transmute::<*mut c_void, GetPrgname>(sym) };
    // SAFETY: g_get_prgname takes nothing and returns NULL or a string
    // GLib keeps alive.
    let name = unsafe { get() };
    (!name.is_null()).then(|| text(name))
}

/// Prints one line as QEMU's error_report does: GLib's program name if
/// set, the kind, the message.
fn report(kind: Report, msg: &str) {
    let prog = glib_prgname().map(|p| format!("{p}: ")).unwrap_or_default();
    let kind = match kind {
        Report::Error => "",
        Report::Warning => "warning: ",
        Report::Info => "info: ",
    };
    let mut err = std::io::stderr().lock();
    // Nothing useful can be done if stderr is gone.
    let _ = writeln!(err, "{prog}{kind}{msg}");
    let _ = err.flush();
}

fn is_abort(errp: *mut *mut Error) -> bool {
    std::ptr::eq(errp, addr_of_mut!(error_abort))
}

fn is_fatal(errp: *mut *mut Error) -> bool {
    std::ptr::eq(errp, addr_of_mut!(error_fatal))
}

/// Hands `err` to its destination: abort, exit, store in an empty `*errp`,
/// or free it (NULL `errp`, or one that already holds an error: the first
/// error wins, as in QEMU's error_propagate).
fn handle(errp: *mut *mut Error, err: Box<Error>) {
    if is_abort(errp) {
        let _ = writeln!(
            std::io::stderr(),
            "Unexpected error in {}() at {}:{}:",
            err.func,
            err.src,
            err.line
        );
        report(Report::Error, &err.msg.to_string_lossy());
        std::process::abort();
    }
    if is_fatal(errp) {
        report(Report::Error, &err.msg.to_string_lossy());
        // Freed first, as QEMU's error_report_err does: exit runs leak checks.
        drop(err);
        std::process::exit(1);
    }
    // SAFETY: a non-NULL errp points to the caller's `Error *` variable.
    match unsafe { errp.as_mut() } {
        Some(slot) if slot.is_null() => *slot = Box::into_raw(err),
        _ => drop(err),
    }
}

/// A new error set by Rust code in this library (`aio_context_new`).
#[track_caller]
pub(crate) fn set_error(errp: *mut *mut Error, func: &str, msg: String) {
    let at = std::panic::Location::caller();
    set(errp, func, at.file(), at.line() as c_int, msg);
}

fn set(errp: *mut *mut Error, func: &str, src: &str, line: c_int, msg: String) {
    if errp.is_null() {
        return;
    }
    // SAFETY: a non-NULL errp points to the caller's `Error *` variable.
    if !is_abort(errp) && !is_fatal(errp) && !unsafe { *errp }.is_null() {
        die(format_args!(
            "{func}: error set at {src}:{line} into an Error * that already holds one: {msg}"
        ));
    }
    let msg = CString::new(msg).unwrap_or_default();
    let (func, src) = (func.to_owned(), src.to_owned());
    handle(
        errp,
        Box::new(Error {
            msg,
            func,
            src,
            line,
        }),
    );
}

/// A C string argument as text ("" for NULL).
fn text(s: *const c_char) -> String {
    if s.is_null() {
        return String::new();
    }
    // SAFETY: non-NULL strings from the headers' inline functions are
    // NUL-terminated and live for the call.
    unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned()
}

/// error_setg's back end (qapi/error.h formats `msg`): makes an error set
/// in `func` at `src`:`line` and hands it to `errp`. Setting into an
/// `Error *` that already holds an error aborts, as QEMU's assertion does.
#[no_mangle]
pub extern "C" fn qemucoro_error_set(
    errp: *mut *mut Error,
    src: *const c_char,
    line: c_int,
    func: *const c_char,
    msg: *const c_char,
) {
    set(errp, &text(func), &text(src), line, text(msg));
}

/// error_report, warn_report and info_report's back end
/// (qemu/error-report.h formats `msg`): kind 0 error, 1 warning, 2 info.
#[no_mangle]
pub extern "C" fn qemucoro_report(kind: c_int, msg: *const c_char) {
    let kind = match kind {
        1 => Report::Warning,
        2 => Report::Info,
        _ => Report::Error,
    };
    report(kind, &text(msg));
}

/// Moves `local_err` to `dst_errp` (or aborts/exits for `&error_abort` /
/// `&error_fatal`); frees it if `dst_errp` is NULL or already holds an
/// error. NULL `local_err` does nothing.
#[no_mangle]
pub extern "C" fn error_propagate(dst_errp: *mut *mut Error, local_err: *mut Error) {
    if !local_err.is_null() {
        // SAFETY: non-NULL errors come from Box::into_raw in `handle`, and
        // the caller gives this one up.
        handle(dst_errp, unsafe { Box::from_raw(local_err) });
    }
}

/// Prints `err`'s message as error_report does, then frees it.
#[no_mangle]
pub extern "C" fn error_report_err(err: *mut Error) {
    report(
        Report::Error,
        &deref("error_report_err", "err", err).msg.to_string_lossy(),
    );
    error_free(err);
}

/// Prints `err`'s message as warn_report does, then frees it.
#[no_mangle]
pub extern "C" fn warn_report_err(err: *mut Error) {
    report(
        Report::Warning,
        &deref("warn_report_err", "err", err).msg.to_string_lossy(),
    );
    error_free(err);
}

/// The message of `err`, valid until `error_free(err)`.
#[no_mangle]
pub extern "C" fn error_get_pretty(err: *const Error) -> *const c_char {
    deref("error_get_pretty", "err", err).msg.as_ptr()
}

/// Frees `err`; NULL is ignored.
#[no_mangle]
pub extern "C" fn error_free(err: *mut Error) {
    if !err.is_null() {
        // SAFETY: non-NULL errors come from Box::into_raw in `handle` and
        // are freed once, by their owner.
        drop(unsafe { Box::from_raw(err) });
    }
}
