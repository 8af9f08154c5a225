//! The parts of qemu/thread.h and qemu/futex.h that need more of POSIX
//! than a strict ISO C program's headers declare (recursive mutexes,
//! monotonic condition variables, signal masks, futexes): C code that
//! includes qemu/coroutine.h with `-std=c11` and no feature macros still
//! compiles. The rest of qemu/thread.h is inline C over these types.
//!
//! The structs mirror the C header's definitions field for field (the
//! header, not cbindgen, defines them: cbindgen.toml excludes these names).

use std::ffi::{c_int, c_uint, c_void};
use std::mem::MaybeUninit;
use std::ptr;

use qemucoro_util::abort::{die, null_arg};

#[repr(C)]
pub struct QemuMutex {
    lock: libc::pthread_mutex_t,
    initialized: bool,
}

#[repr(C)]
pub struct QemuRecMutex {
    m: QemuMutex,
}

#[repr(C)]
pub struct QemuCond {
    cond: libc::pthread_cond_t,
    initialized: bool,
}

#[repr(C)]
pub struct QemuSemaphore {
    mutex: QemuMutex,
    cond: QemuCond,
    count: c_uint,
}

#[repr(C)]
pub struct QemuThread {
    thread: libc::pthread_t,
}

/// A thread's body, as `qemu_thread_create` takes it.
pub type ThreadStart = extern "C" fn(*mut c_void) -> *mut c_void;

/// Aborts naming `func` and the pthread error `err`, as QEMU's error_exit.
fn check(func: &str, err: c_int) {
    if err != 0 {
        die(format_args!(
            "{func}: {}",
            std::io::Error::from_raw_os_error(err)
        ));
    }
}

fn live<'a, T>(func: &str, what: &str, ptr: *mut T) -> &'a mut T {
    // SAFETY: non-NULL pointers from C point to the caller's object, which
    // it lends for the call (the API's contract).
    match unsafe { ptr.as_mut() } {
        Some(r) => r,
        None => null_arg(func, what),
    }
}

fn checked_mutex<'a>(func: &str, mutex: *mut QemuMutex) -> &'a mut QemuMutex {
    let mutex = live(func, "mutex", mutex);
    if !mutex.initialized {
        die(format_args!("{func}: mutex used before qemu_mutex_init"));
    }
    mutex
}

fn checked_cond<'a>(func: &str, cond: *mut QemuCond) -> &'a mut QemuCond {
    let cond = live(func, "condition variable", cond);
    if !cond.initialized {
        die(format_args!(
            "{func}: condition variable used before qemu_cond_init"
        ));
    }
    cond
}

/// Initialises a mutex that its holder may lock again (unlocking as often).
#[no_mangle]
pub extern "C" fn qemu_rec_mutex_init(mutex: *mut QemuRecMutex) {
    let mutex = live("qemu_rec_mutex_init", "mutex", mutex);
    let mut attr = MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
    // SAFETY: attr is initialised by pthread_mutexattr_init before use and
    // destroyed after; the mutex memory is the caller's.
    let err = unsafe {
        libc::pthread_mutexattr_init(attr.as_mut_ptr());
        libc::pthread_mutexattr_settype(attr.as_mut_ptr(), libc::PTHREAD_MUTEX_RECURSIVE);
        let err = libc::pthread_mutex_init(&mut mutex.m.lock, attr.as_ptr());
        libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
        err
    };
    check("qemu_rec_mutex_init", err);
    mutex.m.initialized = true;
}

/// Initialises a condition variable whose timed waits run on
/// CLOCK_MONOTONIC (a change of the date moves no deadline).
#[no_mangle]
pub extern "C" fn qemu_cond_init(cond: *mut QemuCond) {
    let cond = live("qemu_cond_init", "condition variable", cond);
    let mut attr = MaybeUninit::<libc::pthread_condattr_t>::uninit();
    // SAFETY: as in qemu_rec_mutex_init, for a condition attribute.
    let err = unsafe {
        libc::pthread_condattr_init(attr.as_mut_ptr());
        libc::pthread_condattr_setclock(attr.as_mut_ptr(), libc::CLOCK_MONOTONIC);
        let err = libc::pthread_cond_init(&mut cond.cond, attr.as_ptr());
        libc::pthread_condattr_destroy(attr.as_mut_ptr());
        err
    };
    check("qemu_cond_init", err);
    cond.initialized = true;
}

/// The CLOCK_MONOTONIC time `ms` milliseconds from now.
fn deadline_in(ms: c_int) -> libc::timespec {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let ms = i64::from(ms.max(0));
    // tv_nsec is a c_long: i64 on 64-bit targets (a no-op there), i32 on 32-bit.
    #[allow(clippy::useless_conversion)]
    let nsec = i64::from(now.tv_nsec) + (ms % 1000) * 1_000_000;
    libc::timespec {
        tv_sec: now.tv_sec + (ms / 1000 + nsec / 1_000_000_000) as libc::time_t,
        tv_nsec: (nsec % 1_000_000_000) as _,
    }
}

/// One timed wait; true unless the deadline passed.
fn timed_wait(func: &str, cond: &mut QemuCond, mutex: &mut QemuMutex, at: &libc::timespec) -> bool {
    // SAFETY: both objects are initialised and the caller holds the mutex.
    let err = unsafe { libc::pthread_cond_timedwait(&mut cond.cond, &mut mutex.lock, at) };
    if err == libc::ETIMEDOUT {
        return false;
    }
    check(func, err);
    true
}

/// Waits for `cond` with `mutex` held for at most `ms` milliseconds;
/// false if the time ran out (a wake-up may still be spurious: re-check).
#[no_mangle]
pub extern "C" fn qemu_cond_timedwait(
    cond: *mut QemuCond,
    mutex: *mut QemuMutex,
    ms: c_int,
) -> bool {
    let cond = checked_cond("qemu_cond_timedwait", cond);
    let mutex = checked_mutex("qemu_cond_timedwait", mutex);
    timed_wait("qemu_cond_timedwait", cond, mutex, &deadline_in(ms))
}

/// Takes one count from `sem`, waiting at most `ms` milliseconds for it:
/// 0, or -1 if the time ran out with the count still 0.
#[no_mangle]
pub extern "C" fn qemu_sem_timedwait(sem: *mut QemuSemaphore, ms: c_int) -> c_int {
    const FUNC: &str = "qemu_sem_timedwait";
    let sem = live(FUNC, "semaphore", sem);
    let at = deadline_in(ms);
    let mutex = checked_mutex(FUNC, &mut sem.mutex);
    // SAFETY: the semaphore's mutex is initialised (checked above).
    check(FUNC, unsafe { libc::pthread_mutex_lock(&mut mutex.lock) });
    let cond = checked_cond(FUNC, &mut sem.cond);
    let mut in_time = true;
    while sem.count == 0 && in_time {
        in_time = timed_wait(FUNC, cond, mutex, &at);
    }
    let ret = if sem.count > 0 {
        sem.count -= 1;
        0
    } else {
        -1
    };
    // SAFETY: locked above by this thread.
    check(FUNC, unsafe { libc::pthread_mutex_unlock(&mut mutex.lock) });
    ret
}

/// Starts `start_routine(arg)` on a new thread with every signal blocked
/// but those a fault raises (SIGSEGV, SIGFPE, SIGILL), as QEMU does.
/// `mode` is QEMU_THREAD_JOINABLE (0) or QEMU_THREAD_DETACHED (1); `name`
/// is accepted and not applied (QEMU names threads only on request).
#[no_mangle]
pub extern "C" fn qemu_thread_create(
    thread: *mut QemuThread,
    _name: *const libc::c_char,
    start_routine: Option<ThreadStart>,
    arg: *mut c_void,
    mode: c_int,
) {
    const FUNC: &str = "qemu_thread_create";
    let thread = live(FUNC, "thread", thread);
    let Some(start) = start_routine else {
        null_arg(FUNC, "start_routine")
    };
    let detach = match mode {
        0 => false,
        1 => true,
        _ => die(format_args!(
            "{FUNC}: mode must be QEMU_THREAD_JOINABLE or QEMU_THREAD_DETACHED"
        )),
    };
    let mut attr = MaybeUninit::<libc::pthread_attr_t>::uninit();
    let mut all = MaybeUninit::<libc::sigset_t>::uninit();
    let mut old = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: attr and the signal sets are initialised by their init calls
    // before use; the new thread inherits the mask in force at
    // pthread_create, and this thread's own is restored right after.
    let err = unsafe {
        libc::pthread_attr_init(attr.as_mut_ptr());
        if detach {
            libc::pthread_attr_setdetachstate(attr.as_mut_ptr(), libc::PTHREAD_CREATE_DETACHED);
        }
        libc::sigfillset(all.as_mut_ptr());
        for sig in [libc::SIGSEGV, libc::SIGFPE, libc::SIGILL] {
            libc::sigdelset(all.as_mut_ptr(), sig);
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, all.as_ptr(), old.as_mut_ptr());
        let err = libc::pthread_create(&mut thread.thread, attr.as_ptr(), start, arg);
        libc::pthread_sigmask(libc::SIG_SETMASK, old.as_ptr(), ptr::null_mut());
        libc::pthread_attr_destroy(attr.as_mut_ptr());
        err
    };
    check(FUNC, err);
}

/// Sleeps while the 32-bit word at `f` holds `val`; returns at once if it
/// does not. A return does not promise the word changed: re-check.
#[no_mangle]
pub extern "C" fn qemu_futex_wait(f: *mut c_void, val: c_uint) {
    loop {
        // SAFETY: FUTEX_WAIT only reads the word at f, which the caller
        // keeps alive; a bad address fails with EFAULT, reported below.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_futex,
                f,
                libc::FUTEX_WAIT,
                val,
                ptr::null::<libc::timespec>(),
            )
        };
        if ret == 0 {
            return;
        }
        match std::io::Error::last_os_error().raw_os_error() {
            Some(libc::EAGAIN) => return,
            Some(libc::EINTR) => continue,
            _ => die(format_args!(
                "qemu_futex_wait: {}",
                std::io::Error::last_os_error()
            )),
        }
    }
}

/// Wakes up to `n` threads waiting in qemu_futex_wait on `f`.
#[no_mangle]
pub extern "C" fn qemu_futex_wake(f: *mut c_void, n: c_int) {
    // SAFETY: FUTEX_WAKE does not touch the memory at f.
    unsafe { libc::syscall(libc::SYS_futex, f, libc::FUTEX_WAKE, n) };
}
