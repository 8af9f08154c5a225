//! Telling Valgrind which memory ranges are coroutine stacks.
//!
//! Valgrind takes a stack pointer that jumps further than it expects for a
//! wild write, unless the range it lands in was registered as a stack. The
//! request is Valgrind's client-request protocol (valgrind.h): a
//! magic sequence of rotates that sums to no change, then a marker
//! instruction; natively it does nothing and returns the default value,
//! under Valgrind it performs the request whose arguments it finds in memory.

/// `VG_USERREQ__STACK_REGISTER` and `..._DEREGISTER` (valgrind.h).
const STACK_REGISTER: usize = 0x1501;
const STACK_DEREGISTER: usize = 0x1502;

/// Performs Valgrind client request `args[0]` with `args[1..]`; returns
/// Valgrind's answer, or 0 when not running under Valgrind.
#[inline]
fn client_request(args: &[usize; 6]) -> usize {
    let mut result: usize = 0;
    // SAFETY: the rotates cancel out and the marker instruction is a no-op
    // (xchg of a register with itself; orr into itself), so natively this
    // changes nothing but `result`, which keeps its 0; Valgrind only reads
    // `args`, which lives for the whole asm block.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        std::arch::asm!(
            "rol rdi, 3", "rol rdi, 13", "rol rdi, 61", "rol rdi, 51",
            "xchg rbx, rbx",
            inout("rdx") result, in("rax") args.as_ptr(), options(nostack),
        );
        #[cfg(target_arch = "aarch64")]
        std::arch::asm!(
            "ror x12, x12, #3", "ror x12, x12, #13", "ror x12, x12, #51", "ror x12, x12, #61",
            "orr x10, x10, x10",
            inout("x3") result, in("x4") args.as_ptr(), options(nostack),
        );
    }
    result
}

/// A range registered as a stack for as long as this value lives.
pub struct ValgrindStackRegistration {
    id: usize,
}

impl ValgrindStackRegistration {
    /// Registers `[bottom, bottom + len)` (lowest address first).
    pub fn new(bottom: *mut u8, len: usize) -> Self {
        let (lo, hi) = (bottom as usize, bottom as usize + len);
        let id = client_request(&[STACK_REGISTER, lo, hi, 0, 0, 0]);
        ValgrindStackRegistration { id }
    }
}

impl Drop for ValgrindStackRegistration {
    fn drop(&mut self) {
        client_request(&[STACK_DEREGISTER, self.id, 0, 0, 0, 0]);
    }
}
