//! Coroutine stack overflow, reported: a SIGSEGV handler that recognises a
//! hit on a coroutine stack's guard page, names the coroutine's entry
//! function and stack size on stderr, and aborts. Every other fault goes to
//! the handler that was installed before ours (or the default action), so
//! the host program's own SIGSEGV handling keeps working.
//!
//! A handler can only run on an overflowed stack's thread if that thread has
//! an alternate signal stack. Threads created by C usually have none, so
//! `thread_init` (called by current.rs the first time a thread touches
//! coroutine state, on a path that exists anyway) installs the handler once
//! per process and gives the thread a small signal stack unless it already
//! has one (Rust's own threads do).
//!
//! The handler takes no locks and allocates nothing: it walks the faulting
//! thread's chain of entered coroutines (the running one, the one that
//! entered it, ...), reached through one thread-local read. An overflow can
//! only happen on a stack the thread is running on, so that chain is exactly
//! the set of candidates, and a wild write into some other coroutine's guard
//! page is not mistaken for an overflow.

use std::cell::RefCell;
use std::ffi::{c_int, c_void, CStr};
use std::fmt::{self, Write};
use std::ptr;
use std::sync::{Once, OnceLock};

use crate::coroutine::Coroutine;
use crate::coroutine::current;
use crate::switch::stack::page_size;

/// Bytes of alternate signal stack we give a thread that has none.
const ALT_STACK_SIZE: usize = 64 * 1024;

/// Readies the calling thread for overflow reports (idempotent per thread).
pub fn thread_init() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(install_handler);
    // An exiting thread has lost its thread-locals; it needs no signal stack.
    let _ = ALT.try_with(|alt| {
        let mut alt = alt.borrow_mut();
        if alt.is_none() {
            *alt = AltStack::new_if_missing();
        }
    });
}

/// The SIGSEGV disposition we replaced.
struct Previous(libc::sigaction);
// SAFETY: written once before our handler can run, then only read.
unsafe impl Sync for Previous {}
// SAFETY: plain data (a handler address, flags and a mask).
unsafe impl Send for Previous {}

static PREVIOUS: OnceLock<Previous> = OnceLock::new();

fn install_handler() {
    // SAFETY: all-zero is a valid sigaction (empty mask, no flags).
    let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
    new.sa_sigaction = on_segv as *const () as usize;
    new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // SAFETY: as above.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: read the current action first so the handler never runs
    // without a previous one to hand faults to.
    unsafe { libc::sigaction(libc::SIGSEGV, ptr::null(), &mut old) };
    let _ = PREVIOUS.set(Previous(old));
    // SAFETY: `new` is a valid action whose handler has the SA_SIGINFO
    // signature.
    unsafe { libc::sigaction(libc::SIGSEGV, &new, ptr::null_mut()) };
}

extern "C" fn on_segv(sig: c_int, info: *mut libc::siginfo_t, uctx: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    if let Some(co) = overflowed(addr) {
        report(co, "");
    }
    // SAFETY: we pass on exactly what the kernel gave us.
    unsafe { chain(sig, info, uctx) };
}

/// The coroutine among those this thread has entered whose guard page
/// contains `addr`.
fn overflowed(addr: usize) -> Option<&'static Coroutine> {
    let page = page_size();
    let mut co = current::peek();
    // Bounded in case the fault corrupted the chain itself.
    for _ in 0..4096 {
        // SAFETY: `current` and each `caller` are entered coroutines (or a
        // leader), all alive while the chain exists.
        let c: &'static Coroutine = unsafe { co.as_ref() }?;
        if let Some((bottom, _)) = c.stack_bounds() {
            // The guard page is right below a guarded stack; under the
            // lowest slot of a slab it is one page further down (stack.rs).
            if (bottom - 2 * page..bottom).contains(&addr) {
                return Some(c);
            }
        }
        co = c.caller.get();
    }
    None
}

/// Prints the overflow report, with `how` it was caught (if not by the
/// guard page) after it, and aborts; allocates nothing.
pub(crate) fn report(co: &Coroutine, how: &str) -> ! {
    let mut msg = Line { buf: [0; 512], len: 0 };
    let size = co.stack_bounds().map_or(0, |(_, size)| crate::switch::stack::requested_size(size));
    let entry = co.entry.get().map_or(ptr::null(), |f| f as *const c_void);
    let _ = write!(msg, "Co-routine stack overflow: entry function ");
    match symbol_name(entry) {
        Some(name) => {
            let _ = write!(msg, "{}", name.to_string_lossy());
        }
        None => {
            let _ = write!(msg, "at {entry:p}");
        }
    }
    let _ = writeln!(msg, ", stack size {size} bytes{how}");
    // SAFETY: writing our own buffer to stderr; abort takes no arguments.
    unsafe {
        libc::write(libc::STDERR_FILENO, msg.buf.as_ptr().cast(), msg.len);
        libc::abort()
    }
}

/// The dynamic symbol `addr` starts, if dladdr knows it.
fn symbol_name(addr: *const c_void) -> Option<&'static CStr> {
    // SAFETY: all-zero is a valid Dl_info.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the loader's tables; a null or unknown
    // address makes it return 0.
    if addr.is_null() || unsafe { libc::dladdr(addr, &mut info) } == 0 {
        return None;
    }
    if info.dli_sname.is_null() || info.dli_saddr.cast_const() != addr {
        return None;
    }
    // SAFETY: dli_sname is a NUL-terminated string in the loader's tables.
    Some(unsafe { CStr::from_ptr(info.dli_sname) })
}

/// Hands a fault that is not ours to the previous disposition.
///
/// # Safety
/// Called from our SIGSEGV handler with the kernel's arguments.
unsafe fn chain(sig: c_int, info: *mut libc::siginfo_t, uctx: *mut c_void) {
    let Some(Previous(prev)) = PREVIOUS.get() else {
        return default_action(sig, info);
    };
    let handler = prev.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        return default_action(sig, info);
    }
    if prev.sa_flags & libc::SA_SIGINFO != 0 {
        type Action = extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void);
        // SAFETY: SA_SIGINFO handlers have exactly this signature.
        let f: Action = unsafe { std::mem::transmute::<usize, Action>(handler) };
        f(sig, info, uctx);
    } else {
        type Handler = extern "C" fn(c_int);
        // SAFETY: plain handlers have exactly this signature.
        let f: Handler = unsafe { std::mem::transmute::<usize, Handler>(handler) };
        f(sig);
    }
}

/// Restores SIG_DFL and lets the fault happen again (or re-raises a
/// signal that was sent rather than caused), so the process dies of
/// SIGSEGV as if we had never been there.
fn default_action(sig: c_int, info: *mut libc::siginfo_t) {
    // SAFETY: all-zero with SIG_DFL (0) is the default action.
    let dfl: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: installing the default action; reading si_code of a valid
    // siginfo; raise has no preconditions.
    unsafe {
        libc::sigaction(sig, &dfl, ptr::null_mut());
        if (*info).si_code <= 0 {
            libc::raise(sig);
        }
    }
}

/// A fixed buffer that formats without allocating.
struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// An alternate signal stack we installed; uninstalled at thread exit.
struct AltStack {
    map: *mut c_void,
    len: usize,
}

thread_local! {
    static ALT: RefCell<Option<AltStack>> = const { RefCell::new(None) };
}

impl AltStack {
    /// Installs a signal stack unless the thread already has one.
    fn new_if_missing() -> Option<AltStack> {
        // SAFETY: all-zero is a valid stack_t to be filled in.
        let mut old: libc::stack_t = unsafe { std::mem::zeroed() };
        // SAFETY: querying only.
        unsafe { libc::sigaltstack(ptr::null(), &mut old) };
        if old.ss_flags & libc::SS_DISABLE == 0 {
            return None;
        }
        let page = page_size();
        let len = ALT_STACK_SIZE + page;
        // SAFETY: a fresh anonymous mapping aliases nothing.
        let map = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            return None; // no report on overflow, but nothing else breaks
        }
        // SAFETY: the first page is ours; it guards the signal stack itself.
        unsafe { libc::mprotect(map, page, libc::PROT_NONE) };
        let stack = libc::stack_t {
            ss_sp: map.cast::<u8>().wrapping_add(page).cast(),
            ss_flags: 0,
            ss_size: ALT_STACK_SIZE,
        };
        // SAFETY: `stack` describes memory that stays mapped until drop.
        unsafe { libc::sigaltstack(&stack, ptr::null_mut()) };
        Some(AltStack { map, len })
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        let disable =
            libc::stack_t { ss_sp: ptr::null_mut(), ss_flags: libc::SS_DISABLE, ss_size: 0 };
        // SAFETY: all-zero is a valid stack_t to be filled in.
        let mut now: libc::stack_t = unsafe { std::mem::zeroed() };
        // SAFETY: the thread is exiting and not on its signal stack. If the
        // installed one is still ours we disable it; either way the mapping
        // is then unused and ours to unmap.
        unsafe {
            libc::sigaltstack(ptr::null(), &mut now);
            if now.ss_sp.cast::<u8>() == self.map.cast::<u8>().wrapping_add(page_size()) {
                libc::sigaltstack(&disable, ptr::null_mut());
            } else if now.ss_flags & libc::SS_DISABLE == 0 {
                return; // someone replaced it: leave the mapping alone
            }
            libc::munmap(self.map, self.len);
        }
    }
}
