//! The fiber base both products build on (the C API's core and the QEMU
//! backend), generic over their coroutine type: the thread's running
//! coroutine, the leader a thread adopts on its first ask, and the body
//! loop every fiber runs. Each product keeps only what differs: its
//! struct, what an entry is and what terminating does.

use std::cell::{Cell, UnsafeCell};
use std::ffi::c_void;
use std::mem::ManuallyDrop;

use crate::Fiber;

/// The running coroutine of a thread: the first word of the thread block
/// (arch), where both products and the gdb scripts find it. Null until
/// the thread first needs one, then its leader outside any coroutine.
#[repr(C)]
pub struct Current<T> {
    co: Cell<*const T>,
}

impl<T> Current<T> {
    /// The running coroutine, or null if the thread never asked for one;
    /// adopts nothing, so a signal handler may call it.
    #[inline(always)]
    pub fn peek(&self) -> *const T {
        self.co.get()
    }

    /// The running coroutine, or `adopt()` (which makes the thread's
    /// leader current, see `adopt`) on the thread's first ask.
    #[inline(always)]
    pub fn get(&self, adopt: fn() -> *const T) -> *const T {
        let co = self.co.get();
        if co.is_null() {
            return adopt();
        }
        co
    }

    /// Makes `co` the running coroutine.
    #[inline(always)]
    pub fn set(&self, co: *const T) {
        self.co.set(co);
    }

    /// Makes the thread's leader the running coroutine and returns it:
    /// the thread's first ask, outside any coroutine. The caller's cold,
    /// out-of-line path, so the hot one stays a load and a test.
    #[inline(always)]
    pub fn adopt(&self, leader: &'static std::thread::LocalKey<Leader<T>>) -> *const T {
        let l = leader.with(Leader::as_ptr);
        self.co.set(l);
        l
    }
}

/// A thread's leader: a coroutine without a stack standing for the
/// thread's own, so that `caller` always has somewhere to point and "the
/// running coroutine" is never null once asked for. Never entered and
/// never yields; its fiber holds the sanitizers' state for the thread's
/// stack. Kept in a `thread_local!` by each product and never dropped (it
/// owns no stack): a destructor registered by a thread's first use inside
/// a pthread key destructor would never run, and glibc's record of it
/// would leak. C code may write its fields (QEMU's `caller`), hence the
/// UnsafeCell.
pub struct Leader<T>(UnsafeCell<ManuallyDrop<T>>);

impl<T> Leader<T> {
    pub const fn new(co: T) -> Leader<T> {
        Leader(UnsafeCell::new(ManuallyDrop::new(co)))
    }

    /// The leader, as the thread block holds it.
    pub fn as_ptr(&self) -> *const T {
        self.0.get().cast::<T>().cast_const()
    }
}

/// `void CoroutineEntry(void *opaque)`, as both QEMU and the C API have it.
pub type Entry = unsafe extern "C" fn(opaque: *mut c_void);

/// What `body` needs of the coroutine that owns a fiber.
pub trait FiberOwner {
    /// The owner's fiber (the one `body` runs on).
    fn fiber(&self) -> &Fiber;
    /// The entry to run next, set before each first entry; None is a
    /// misuse (`no_entry`).
    fn entry(&self) -> Option<Entry>;
    fn entry_arg(&self) -> *mut c_void;
    /// Aborts: entered with no entry set.
    fn no_entry() -> !;
    /// The entry returned: switches out for the last time in this run;
    /// returns when the coroutine is re-armed and entered again.
    ///
    /// # Safety
    /// Runs on the owner's fiber, which was entered and has not suspended.
    unsafe fn terminate(&self);
}

/// The body of every fiber, forever: run the entry, terminate, and on the
/// next entry (the coroutine re-armed with a new entry by a pool, fiber
/// and stack intact) run again.
///
/// # Safety
/// `arg` is the `T` that owns this fiber (`Fiber::prepare`'s `arg`), alive
/// for as long as the fiber can be resumed.
#[link_section = ".text.hot.qemucoro"]
pub unsafe extern "C" fn body<T: FiberOwner>(arg: *mut c_void, _first: usize) -> ! {
    // SAFETY: per the contract.
    let co = unsafe { &*arg.cast::<T>() };
    co.fiber().after_suspend();
    loop {
        let Some(entry) = co.entry() else {
            T::no_entry()
        };
        // SAFETY: the owner's entry and argument, set by its creator,
        // whose caller promises that entry(arg) is valid to call.
        unsafe { entry(co.entry_arg()) };
        // SAFETY: we run on the owner's fiber, entered and not suspended.
        unsafe { co.terminate() };
    }
}
