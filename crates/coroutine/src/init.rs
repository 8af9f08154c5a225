//! First use, per thread and per process: everything the library sets up
//! lazily the first time a thread touches coroutine state, on a path that
//! exists anyway (current.rs finds no running coroutine), so that neither
//! C threads nor programs that never call in pay for it:
//!
//! - the thread's leader becomes its running coroutine, so that `caller`
//!   always has somewhere to point and `qemu_coroutine_self()` is never NULL;
//! - once per process, the overflow handler is installed (overflow.rs) and
//!   the fork handlers registered (fork.rs);
//! - the thread gets a small alternate signal stack unless it has one
//!   (Rust's own threads do; C threads usually do not), since the overflow
//!   handler can only run on an overflowed stack's thread from one;
//!
//! It sits above the modules it sets up and they never call back into it,
//! so the first-use chain is no import circle.

use std::ffi::c_void;
use std::ptr;
use std::sync::Once;

use crate::thread_block::block;
use crate::{fork, overflow, Coroutine};
use qemucoro_switch::stack::page_size;
use qemucoro_switch::Leader;
use qemucoro_util::thread_exit::ExitKey;

/// Bytes of alternate signal stack we give a thread that has none.
const ALT_STACK_SIZE: usize = 64 * 1024;

thread_local! {
    /// Stands for the thread's own stack (see `Leader`).
    static LEADER: Leader<Coroutine> = const { Leader::new(Coroutine::blank()) };
}

/// First use of coroutine state on this thread: the leader becomes the
/// running coroutine, and the thread (and, the first time, the process)
/// gets what overflow reports and fork need.
#[cold]
#[inline(never)]
pub fn adopt_leader() -> *const Coroutine {
    let leader = block().current.adopt(&LEADER);
    thread_init();
    leader
}

/// Readies the calling thread for overflow reports (idempotent per thread),
/// and the process on its first call.
fn thread_init() {
    static PROCESS: Once = Once::new();
    PROCESS.call_once(|| {
        overflow::install_handler();
        fork::register();
    });
    if ALT.get().is_null() {
        if let Some(alt) = AltStack::new_if_missing() {
            ALT.set(Box::into_raw(Box::new(alt)).cast());
        }
    }
}

/// An alternate signal stack we installed; uninstalled at thread exit.
struct AltStack {
    map: *mut c_void,
    len: usize,
}

/// The thread's signal stack, a `Box<AltStack>`, unmapped when the thread
/// exits: a pthread key, so also for a thread whose first coroutine comes
/// in a key destructor (a `thread_local!` destructor would never run).
static ALT: ExitKey = ExitKey::new(drop_alt_stack);

/// # Safety
/// Called by glibc only, on the exiting thread, with the value ALT holds.
unsafe extern "C" fn drop_alt_stack(alt: *mut c_void) {
    // SAFETY: the only value ALT is given: a Box from `thread_init`.
    drop(unsafe { Box::from_raw(alt.cast::<AltStack>()) });
}

/// Deletes the signal stack's exit hook when the library is unloaded.
pub fn delete_exit_hook() {
    ALT.delete();
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
        let disable = libc::stack_t {
            ss_sp: ptr::null_mut(),
            ss_flags: libc::SS_DISABLE,
            ss_size: 0,
        };
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
