//! Coroutine stack overflow, reported: a SIGSEGV and SIGBUS handler that
//! recognises a hit on a coroutine stack's guard band (PROT_NONE faults
//! with SIGSEGV, a userfaultfd band with SIGBUS; see switch/stack.rs), or a
//! running coroutine's stack pointer below its stack, names the
//! coroutine's entry function and stack size on stderr, and aborts. Every
//! other fault goes back to the action that was installed before ours,
//! reinstalled so that the fault re-executes under it with its own flags,
//! so the host program's own SIGSEGV and SIGBUS handling keeps working.
//! unload.rs puts that action back when the library is unloaded.
//!
//! init.rs installs the handler once per process and gives each thread the
//! alternate signal stack the handler needs, the first time the thread
//! touches coroutine state.
//!
//! The handler takes no locks and allocates nothing (the report is a fixed
//! buffer and write(2); names come from util/symbol.rs): it walks the faulting
//! thread's chain of entered coroutines (the running one, the one that
//! entered it, ...), reached through one thread-local read. An overflow can
//! only happen on a stack the thread is running on, so that chain is exactly
//! the set of candidates, and a wild write into some other coroutine's guard
//! page is not mistaken for an overflow.

use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::OnceLock;

use crate::thread_block;
use crate::Coroutine;
use qemucoro_switch::stack::page_size;
use qemucoro_util::line::Line;

/// A SIGSEGV or SIGBUS disposition we replaced.
struct Previous(libc::sigaction);
// SAFETY: written once before our handler can run, then only read.
unsafe impl Sync for Previous {}
// SAFETY: plain data (a handler address, flags and a mask).
unsafe impl Send for Previous {}

/// What was installed for SIGSEGV (a PROT_NONE guard band) and SIGBUS (a
/// userfaultfd guard band) before us.
static PREVIOUS_SEGV: OnceLock<Previous> = OnceLock::new();
static PREVIOUS_BUS: OnceLock<Previous> = OnceLock::new();

fn previous(sig: c_int) -> &'static OnceLock<Previous> {
    if sig == libc::SIGBUS {
        &PREVIOUS_BUS
    } else {
        &PREVIOUS_SEGV
    }
}

/// Installs the handler for SIGSEGV and SIGBUS, keeping what it replaces
/// (once per process: init.rs).
pub fn install_handler() {
    for sig in [libc::SIGSEGV, libc::SIGBUS] {
        // SAFETY: all-zero is a valid sigaction (empty mask, no flags).
        let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
        new.sa_sigaction = on_fault as *const () as usize;
        new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: as above.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: read the current action first so the handler never runs
        // without a previous one to hand faults to.
        unsafe { libc::sigaction(sig, ptr::null(), &mut old) };
        let _ = previous(sig).set(Previous(old));
        // SAFETY: `new` is a valid action whose handler has the SA_SIGINFO
        // signature.
        unsafe { libc::sigaction(sig, &new, ptr::null_mut()) };
    }
}

/// Puts back the actions we replaced, if ours is still the one installed,
/// so that no fault is delivered into code about to be unmapped (see
/// unload.rs).
pub fn restore_previous() {
    for sig in [libc::SIGSEGV, libc::SIGBUS] {
        let Some(Previous(prev)) = previous(sig).get() else {
            continue;
        };
        // SAFETY: all-zero is a valid sigaction to be filled in.
        let mut now: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: querying, then installing the action the kernel gave us.
        unsafe {
            libc::sigaction(sig, ptr::null(), &mut now);
            if now.sa_sigaction == on_fault as *const () as usize {
                libc::sigaction(sig, prev, ptr::null_mut());
            }
        }
    }
}

extern "C" fn on_fault(sig: c_int, info: *mut libc::siginfo_t, uctx: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo and context for SA_SIGINFO
    // handlers. A positive si_code means the kernel raised it for a fault
    // (a signal sent with kill or sigqueue has one of zero or less).
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as usize) };
    if code > 0 {
        // SAFETY: as above.
        let sp = unsafe { stack_pointer(uctx) };
        if let Some(co) = overflowed(addr, sp) {
            report(co, "");
        }
    }
    // SAFETY: we pass on exactly what the kernel gave us.
    unsafe { chain(sig, info) };
}

/// The interrupted stack pointer, or 0 where we do not know where it is.
///
/// # Safety
/// `uctx` is the context the kernel passed to an SA_SIGINFO handler.
unsafe fn stack_pointer(uctx: *mut c_void) -> usize {
    let uc = uctx.cast::<libc::ucontext_t>();
    #[cfg(target_arch = "x86_64")]
    // SAFETY: per the contract, a valid ucontext.
    return unsafe { (*uc).uc_mcontext.gregs[libc::REG_RSP as usize] } as usize;
    #[cfg(target_arch = "aarch64")]
    // SAFETY: per the contract, a valid ucontext.
    return unsafe { (*uc).uc_mcontext.sp } as usize;
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = uc;
        0
    }
}

/// How far below a stack's bottom the running coroutine's stack pointer
/// may be and still count as its own overflow, and how far below that
/// pointer the fault may be: a runaway recursion on a `Checked` stack runs
/// down through the slots below it to the slab's bottom page; a frame
/// bigger than the guard band skips it.
const SP_REACH: usize = 4 << 30;
const FAULT_BELOW_SP: usize = 1 << 20;

/// The coroutine among those this thread has entered that overflowed: the
/// fault `addr` lies in its guard band, or (for the running one) the
/// interrupted stack pointer `sp` is below its bottom and the fault near it.
fn overflowed(addr: usize, sp: usize) -> Option<&'static Coroutine> {
    // the band, and a slab's bottom page below its lowest slot's band
    let band = qemucoro_switch::stack::guard_len() + page_size();
    let mut co = thread_block::peek();
    let mut running = true;
    // Bounded in case the fault corrupted the chain itself.
    for _ in 0..4096 {
        // SAFETY: `current` and each `caller` are entered coroutines (or a
        // leader), all alive while the chain exists.
        let c: &'static Coroutine = unsafe { co.as_ref() }?;
        if let Some((bottom, _)) = c.stack_bounds() {
            if (bottom.saturating_sub(band)..bottom).contains(&addr) {
                return Some(c);
            }
            let below = bottom.saturating_sub(SP_REACH)..bottom;
            if running
                && below.contains(&sp)
                && (sp.saturating_sub(FAULT_BELOW_SP)..bottom).contains(&addr)
            {
                return Some(c);
            }
        }
        running = false;
        co = c.caller.get();
    }
    None
}

/// Prints the overflow report, with `how` it was caught (if not by the
/// guard page) after it, and aborts. Async-signal-safe: a fixed buffer,
/// write(2), and a symbol lookup that only reads files (symbol.rs).
pub fn report(co: &Coroutine, how: &str) -> ! {
    let mut msg = Line::new();
    let size = co
        .stack_bounds()
        .map_or(0, |(_, size)| qemucoro_switch::stack::requested_size(size));
    let entry = co.entry.get().map_or(0, |f| f as usize);
    msg.push(b"Co-routine stack overflow: entry function ");
    let mut name = [0u8; 256];
    match qemucoro_util::symbol::name_of(entry, &mut name) {
        Some(n) => msg.push(&name[..n]),
        None => {
            msg.push(b"at 0x");
            msg.push_hex(entry);
        }
    }
    msg.push(b", stack size ");
    msg.push_decimal(size);
    msg.push(b" bytes");
    msg.push(how.as_bytes());
    msg.push(b"\n");
    msg.write_to_stderr();
    // SAFETY: abort takes no arguments and does not return.
    unsafe { libc::abort() }
}

/// Hands a fault that is not ours to the previous disposition, the way
/// the kernel would have: we install it and return. A fault then happens
/// again and is delivered under it, with its own flags (SA_SIGINFO,
/// SA_RESETHAND, SA_NODEFER, SA_ONSTACK), mask, SIG_DFL or SIG_IGN; a
/// signal that was sent rather than caused is queued again, with its
/// siginfo, and delivered when we return. From then on the previous action
/// gets every SIGSEGV, so later overflows are no longer reported.
///
/// # Safety
/// Called from our SIGSEGV handler with the kernel's arguments.
unsafe fn chain(sig: c_int, info: *mut libc::siginfo_t) {
    // SAFETY: all-zero with SIG_DFL (0) is the default action.
    let dfl: libc::sigaction = unsafe { std::mem::zeroed() };
    let prev = previous(sig).get().map_or(&dfl, |p| &p.0);
    // SAFETY: installing a valid action; reading si_code of a valid
    // siginfo; re-queueing the kernel's own siginfo to this very thread
    // (allowed for any si_code when a process signals itself).
    unsafe {
        libc::sigaction(sig, prev, ptr::null_mut());
        if (*info).si_code <= 0 {
            let queued = libc::syscall(
                libc::SYS_rt_tgsigqueueinfo,
                libc::getpid(),
                libc::syscall(libc::SYS_gettid),
                sig,
                info,
            );
            if queued != 0 {
                libc::raise(sig);
            }
        }
    }
}
