//! Guard bands that cost no kernel mapping: userfaultfd write-protection.
//!
//! A slab is registered with one userfaultfd in write-protect mode, and
//! each slot's band is write-protected in it. Nobody reads the descriptor:
//! with `UFFD_FEATURE_SIGBUS` the kernel answers a write into a band with a
//! SIGBUS (`BUS_ADRERR`) at the faulting address, synchronously, as
//! PROT_NONE answers with a SIGSEGV. `UFFD_FEATURE_WP_UNPOPULATED` (Linux
//! 6.4) lets the bands stay unpopulated. Measured on Linux 6.18: one slab
//! of 1 GiB with 4096 bands protected stays one mapping; 0.3-0.4 us per
//! band, once per slot (never per create); a read of a band reads zeros;
//! a system call that writes into one fails with EFAULT.
//!
//! Unprivileged processes need `UFFD_USER_MODE_ONLY` (where
//! `vm.unprivileged_userfaultfd` is 0), which is all a guard needs. Where the
//! call is refused (seccomp, sysctl, an older kernel) or
//! `QEMUCORO_UFFD=0` is set, slabs fall back to checked bands (stack.rs).
//!
//! All calls come with the slab lock held (slab.rs), so the descriptor
//! needs no lock of its own.

use std::ffi::c_ulong;
use std::sync::atomic::{AtomicI32, Ordering};

/// The descriptor, `UNTRIED` before the first slab, or `OFF`.
static FD: AtomicI32 = AtomicI32::new(UNTRIED);
const UNTRIED: i32 = -2;
const OFF: i32 = -1;

const UFFD_USER_MODE_ONLY: libc::c_int = 1;
const UFFD_API: u64 = 0xaa;
const FEATURE_SIGBUS: u64 = 1 << 7;
const FEATURE_WP_UNPOPULATED: u64 = 1 << 13;
const REGISTER_MODE_WP: u64 = 1 << 1;
const WRITEPROTECT_MODE_WP: u64 = 1 << 0;

#[repr(C)]
struct Api {
    api: u64,
    features: u64,
    ioctls: u64,
}

#[repr(C)]
struct Range {
    start: u64,
    len: u64,
}

#[repr(C)]
struct Register {
    range: Range,
    mode: u64,
    ioctls: u64,
}

#[repr(C)]
struct WriteProtect {
    range: Range,
    mode: u64,
}

/// `_IOWR(0xaa, nr, T)` of the kernel's userfaultfd.h.
const fn iowr<T>(nr: c_ulong) -> c_ulong {
    (3 << 30) | ((std::mem::size_of::<T>() as c_ulong) << 16) | (0xaa << 8) | nr
}

const UFFDIO_API: c_ulong = iowr::<Api>(0x3f);
const UFFDIO_REGISTER: c_ulong = iowr::<Register>(0x00);
const UFFDIO_WRITEPROTECT: c_ulong = iowr::<WriteProtect>(0x06);

/// Registers the mapping `[start, start + len)` and write-protects each
/// `(address, length)` band in it; false (and no more tries) if
/// userfaultfd is unavailable or refuses.
pub fn guard(start: usize, len: usize, bands: impl Iterator<Item = (usize, usize)>) -> bool {
    let fd = match FD.load(Ordering::Relaxed) {
        UNTRIED => {
            let fd = open().unwrap_or(OFF);
            FD.store(fd, Ordering::Relaxed);
            fd
        }
        fd => fd,
    };
    if fd == OFF {
        return false;
    }
    let mut reg = Register {
        range: Range {
            start: start as u64,
            len: len as u64,
        },
        mode: REGISTER_MODE_WP,
        ioctls: 0,
    };
    // SAFETY: UFFDIO_REGISTER reads and writes the struct it is given; the
    // range is a private anonymous mapping of ours.
    if unsafe { libc::ioctl(fd, UFFDIO_REGISTER, &mut reg) } != 0 {
        turn_off();
        return false;
    }
    for (addr, len) in bands {
        let mut wp = WriteProtect {
            range: Range {
                start: addr as u64,
                len: len as u64,
            },
            mode: WRITEPROTECT_MODE_WP,
        };
        // SAFETY: as above, for a range inside the registered mapping.
        if unsafe { libc::ioctl(fd, UFFDIO_WRITEPROTECT, &mut wp) } != 0 {
            // The slab falls back to Checked; staying registered with a
            // band or two protected only makes a fault of those earlier.
            turn_off();
            return false;
        }
    }
    true
}

/// In a forked child: the inherited descriptor belongs to the parent's
/// address space; opens one for the child's. False if the child cannot.
pub fn reopen_in_child() -> bool {
    let fd = FD.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: our own descriptor, used by nothing else.
        unsafe { libc::close(fd) };
    }
    // No environment read here: Rust's lock around it may have been held
    // by another thread of the parent (the switch was read before, or no
    // slab would be guarded).
    let fd = open_fd().unwrap_or(OFF);
    FD.store(fd, Ordering::Relaxed);
    fd != OFF
}

/// No more userfaultfd slabs. The descriptor stays open: closing it would
/// drop the protection of the slabs guarded so far.
fn turn_off() {
    FD.store(OFF, Ordering::Relaxed);
}

/// A userfaultfd for the guards, unless `QEMUCORO_UFFD=0` forbids it.
fn open() -> Option<i32> {
    if std::env::var_os("QEMUCORO_UFFD").is_some_and(|v| v == "0") {
        return None;
    }
    open_fd()
}

/// A userfaultfd with the two features a guard needs, or None.
fn open_fd() -> Option<i32> {
    let flags = libc::O_CLOEXEC | libc::O_NONBLOCK;
    // SAFETY: userfaultfd takes flags only and returns a new descriptor.
    let mut fd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags | UFFD_USER_MODE_ONLY) };
    if fd < 0 {
        // kernels before 5.11 know no UFFD_USER_MODE_ONLY
        // SAFETY: as above.
        fd = unsafe { libc::syscall(libc::SYS_userfaultfd, flags) };
    }
    if fd < 0 {
        return None;
    }
    let fd = fd as i32;
    let want = FEATURE_SIGBUS | FEATURE_WP_UNPOPULATED;
    let mut api = Api {
        api: UFFD_API,
        features: want,
        ioctls: 0,
    };
    // SAFETY: UFFDIO_API reads and writes the struct it is given.
    let ok = unsafe { libc::ioctl(fd, UFFDIO_API, &mut api) } == 0 && api.features & want == want;
    if !ok {
        // SAFETY: the descriptor opened above, used by nothing else.
        unsafe { libc::close(fd) };
        return None;
    }
    Some(fd)
}
