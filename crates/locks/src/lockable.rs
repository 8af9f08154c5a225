//! `QemuLockable`: any lock (CoMutex, QemuMutex, ...) as an object plus its
//! lock and unlock functions, which is what `qemu_co_queue_wait` and the
//! lock guards take. The macros that build one from a typed lock pointer
//! (`QEMU_MAKE_LOCKABLE`) live in `include/qemu/lockable.h`, since they
//! dispatch on the C type.

use std::ffi::c_void;

use qemucoro_util::abort::die;

/// A function that locks or unlocks the object of a `QemuLockable`.
type LockUnlockFn = unsafe extern "C" fn(object: *mut c_void);

/// A lock of any kind: the lock object and the functions that lock and
/// unlock it. Build one with `QEMU_MAKE_LOCKABLE(&lock)`.
#[repr(C)]
pub struct QemuLockable {
    pub object: *mut c_void,
    pub lock: Option<unsafe extern "C" fn(object: *mut c_void)>,
    pub unlock: Option<unsafe extern "C" fn(object: *mut c_void)>,
}

const _: () = assert!(size_of::<QemuLockable>() == 3 * size_of::<usize>());
const _: () = assert!(align_of::<QemuLockable>() == align_of::<usize>());

impl QemuLockable {
    /// Takes the lock.
    pub fn lock(&self) {
        call(self.lock, self.object, "lock");
    }

    /// Releases the lock.
    pub fn unlock(&self) {
        call(self.unlock, self.object, "unlock");
    }
}

fn call(func: Option<LockUnlockFn>, object: *mut c_void, what: &str) {
    let Some(func) = func else {
        die(format_args!("QemuLockable: no {what} function"));
    };
    // SAFETY: whoever built the lockable (QEMU_MAKE_LOCKABLE) paired the
    // object with functions that accept it.
    unsafe { func(object) }
}
