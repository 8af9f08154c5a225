//! Thread-exit hooks that run even for a thread whose first use of the
//! library comes in a pthread key destructor: glibc runs a thread's
//! `thread_local!` destructors before its key destructors, so one
//! registered during the key destructors never runs. A hook here is a
//! pthread key of its own, which glibc calls in its next round of key
//! destructors (it makes up to four).

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicU32, Ordering};

/// A pthread key made on first use, whose destructor is `run`.
pub struct ExitKey {
    /// The key plus one; 0 until it is made.
    key: AtomicU32,
    run: unsafe extern "C" fn(*mut c_void),
}

impl ExitKey {
    pub const fn new(run: unsafe extern "C" fn(*mut c_void)) -> ExitKey {
        ExitKey {
            key: AtomicU32::new(0),
            run,
        }
    }

    fn key(&self) -> Option<libc::pthread_key_t> {
        let k = self.key.load(Ordering::Acquire);
        if k != 0 {
            return Some(k - 1);
        }
        let mut new: libc::pthread_key_t = 0;
        // SAFETY: `new` is a live out-parameter; `run` is a valid destructor.
        if unsafe { libc::pthread_key_create(&mut new, Some(self.run)) } != 0 {
            return None; // out of keys: the hook does not run, nothing breaks
        }
        match self
            .key
            .compare_exchange(0, new + 1, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Some(new),
            Err(won) => {
                // SAFETY: our key, never handed out.
                unsafe { libc::pthread_key_delete(new) };
                Some(won - 1)
            }
        }
    }

    /// Arms the hook for the calling thread: `run(value)` when it exits.
    /// `value` must not be null.
    #[allow(clippy::not_unsafe_ptr_arg_deref)] // kept for `run`, not read here
    pub fn set(&self, value: *mut c_void) {
        if let Some(key) = self.key() {
            // SAFETY: a key of ours; glibc keeps the value per thread.
            unsafe { libc::pthread_setspecific(key, value) };
        }
    }

    /// The calling thread's value: null if the hook is not armed here.
    pub fn get(&self) -> *mut c_void {
        match self.key.load(Ordering::Acquire) {
            0 => ptr::null_mut(),
            // SAFETY: a key of ours.
            k => unsafe { libc::pthread_getspecific(k - 1) },
        }
    }

    /// Deletes the key when the library is unloaded: threads that still
    /// run never call into the unmapped hook.
    pub fn delete(&self) {
        let k = self.key.swap(0, Ordering::AcqRel);
        if k != 0 {
            // SAFETY: a key of ours, made once and deleted once.
            unsafe { libc::pthread_key_delete(k - 1) };
        }
    }
}
