//! QEMU coroutine backend: the five functions QEMU's generic coroutine layer
//! (util/qemu-coroutine.c) expects from a util/coroutine-*.c backend,
//! implemented on our corosensei fibers. Built with `--features qemu-backend`.
//!
//! QEMU owns everything generic: the pool, locks, sleeping, AioContext
//! wake-ups. This module only creates/destroys coroutines, switches between
//! them and tracks the per-thread current coroutine and leader.
//!
//! QEMU's switches are strictly nested, which matches corosensei exactly:
//! ENTER always goes from the current coroutine (or the thread's leader) into
//! a suspended coroutine whose `caller` QEMU just set to the current one, and
//! YIELD/TERMINATE always go from the running coroutine back to its `caller`.
//! So ENTER is `fiber.resume()` and YIELD/TERMINATE is `suspend()`.

use std::cell::Cell;
use std::ffi::{c_char, c_int, c_void};
use std::mem::{offset_of, size_of};
use std::ptr;

use crate::util::sanitizer::{acquire, asan_drop_fake_stack, release};
use crate::switch::stack::{Canary, Stack, DEFAULT_STACK_SIZE};
use crate::switch::{Fiber, Suspender};

/// QEMU's `CoroutineAction` values (a C enum, so passed as `int`).
const COROUTINE_YIELD: c_int = 1;
const COROUTINE_TERMINATE: c_int = 2;
const COROUTINE_ENTER: c_int = 3;

/// Mirror of QEMU's `struct Coroutine` (include/qemu/coroutine_int.h). QEMU's
/// generic code reads and writes all of these; we only touch `entry`,
/// `entry_arg` and `caller`. The offsets are pinned below and checked against
/// the QEMU tree being built by qemu/coroutine-qemucoro.c, which asserts the
/// same table with QEMU's own headers.
#[repr(C)]
struct QemuCoroutine {
    entry: Option<unsafe extern "C" fn(*mut c_void)>,
    entry_arg: *mut c_void,
    caller: *mut QemuCoroutine,
    pool_next: *mut QemuCoroutine,
    locks_held: usize,
    ctx: *mut c_void,
    scheduled: *const c_char,
    co_queue_next: *mut QemuCoroutine,
    co_queue_wakeup: [*mut c_void; 2],
    co_scheduled_next: *mut QemuCoroutine,
}

/// The layout contract, in pointer-sized words: (field offset, ...) and the
/// size. qemu/coroutine-qemucoro.c asserts the same numbers in C; change both
/// together if QEMU's struct ever changes.
const W: usize = size_of::<usize>();
const _: () = {
    assert!(offset_of!(QemuCoroutine, entry) == 0);
    assert!(offset_of!(QemuCoroutine, entry_arg) == W);
    assert!(offset_of!(QemuCoroutine, caller) == 2 * W);
    assert!(offset_of!(QemuCoroutine, pool_next) == 3 * W);
    assert!(offset_of!(QemuCoroutine, locks_held) == 4 * W);
    assert!(offset_of!(QemuCoroutine, ctx) == 5 * W);
    assert!(offset_of!(QemuCoroutine, scheduled) == 6 * W);
    assert!(offset_of!(QemuCoroutine, co_queue_next) == 7 * W);
    assert!(offset_of!(QemuCoroutine, co_queue_wakeup) == 8 * W);
    assert!(offset_of!(QemuCoroutine, co_scheduled_next) == 10 * W);
    assert!(size_of::<QemuCoroutine>() == 11 * W);
};

impl QemuCoroutine {
    const ZERO: QemuCoroutine = QemuCoroutine {
        entry: None,
        entry_arg: ptr::null_mut(),
        caller: ptr::null_mut(),
        pool_next: ptr::null_mut(),
        locks_held: 0,
        ctx: ptr::null_mut(),
        scheduled: ptr::null(),
        co_queue_next: ptr::null_mut(),
        co_queue_wakeup: [ptr::null_mut(); 2],
        co_scheduled_next: ptr::null_mut(),
    };
}

/// A coroutine made by `qemu_coroutine_new`. QEMU only ever sees `&base`,
/// which is at offset 0 so the pointer converts both ways.
#[repr(C)]
struct BackendCoroutine {
    base: QemuCoroutine,
    /// The suspender of our fiber, valid from its first entry on (it lives at
    /// the base of the fiber's stack, which never unwinds).
    suspender: *const Suspender,
    /// Overflow canary of a slab stack (stacks past the guarded budget have
    /// no guard page); checked whenever the coroutine switches out.
    canary: Option<Canary>,
    /// The fiber's stack as (lowest address, size), for ASan builds.
    stack: (usize, usize),
    fiber: Option<Fiber>,
}

/// Where gdb/qemucoro_qemu.py finds what QEMU's `qemu coroutine` and `qemu
/// bt` need on this backend: byte offsets into a BackendCoroutine. #[used]
/// and a fixed name keep it through linking (qemu/build-backend.sh keeps it
/// in the archive, as a local symbol).
#[repr(C)]
struct GdbLayout {
    /// Bumped when a field below changes meaning.
    version: usize,
    /// QEMU's `caller`.
    caller: usize,
    /// The stack, as (lowest address, size in bytes).
    stack_bottom: usize,
    stack_size: usize,
    /// corosensei's coroutine inside our Fiber, and its size: it holds the
    /// stack pointer of a suspended context.
    fiber_inner: usize,
    fiber_inner_size: usize,
}

// Some(fiber) lies where the Option does: the niche leaves no tag in front.
const _: () = assert!(size_of::<Option<Fiber>>() == size_of::<Fiber>());

#[used]
#[export_name = "qemucoro_qemu_gdb_layout"]
static GDB_LAYOUT: GdbLayout = GdbLayout {
    version: 1,
    caller: offset_of!(QemuCoroutine, caller),
    stack_bottom: offset_of!(BackendCoroutine, stack.0),
    stack_size: offset_of!(BackendCoroutine, stack.1),
    fiber_inner: offset_of!(BackendCoroutine, fiber) + crate::switch::layout::INNER,
    fiber_inner_size: crate::switch::layout::INNER_SIZE,
};

// Per-thread state. A thread's leader is a bare QemuCoroutine standing for
// the thread's own stack: it is never entered and never yields, so it needs
// no fiber. Both are const-initialised and Drop-free, so access is a plain
// TLS load with no lazy-init check.
thread_local! {
    static CURRENT: Cell<*mut QemuCoroutine> = const { Cell::new(ptr::null_mut()) };
    static LEADER: LeaderCell = const { LeaderCell(std::cell::UnsafeCell::new(QemuCoroutine::ZERO)) };
}

struct LeaderCell(std::cell::UnsafeCell<QemuCoroutine>);

// TLS discipline: a coroutine that suspends on one thread may resume on
// another, and a compiler may compute a TLS address once per function and
// reuse it. So CURRENT/LEADER are touched only by these helpers, which are
// used only in the exported functions and adopt_leader(). All of those are
// #[inline(never)], and each touches TLS either before its one switch
// (qemu_coroutine_switch) or has no switch at all. So no TLS address can
// outlive a switch: every call into them computes it afresh.
#[inline(always)]
fn current() -> *mut QemuCoroutine {
    CURRENT.with(|c| c.get())
}

#[inline(always)]
fn set_current(co: *mut QemuCoroutine) {
    CURRENT.with(|c| c.set(co));
}

#[inline(never)]
fn leader() -> *mut QemuCoroutine {
    LEADER.with(|l| l.0.get())
}

/// Runs `f`, aborting the process instead of letting a panic reach C.
fn no_unwind<R>(f: impl FnOnce() -> R) -> R {
    struct AbortOnUnwind;
    impl Drop for AbortOnUnwind {
        fn drop(&mut self) {
            eprintln!("qemucoro: panic in the QEMU coroutine backend");
            std::process::abort();
        }
    }
    let guard = AbortOnUnwind;
    let r = f();
    std::mem::forget(guard);
    r
}

/// The body every fiber runs, forever: QEMU's pool keeps a terminated
/// coroutine (stack and all) and re-uses it by setting a new entry/entry_arg
/// and entering it again, which lands right after our TERMINATE switch.
///
/// # Safety
/// `arg` is the `BackendCoroutine` that owns this fiber, alive for as long as
/// the fiber can be resumed.
unsafe fn trampoline(arg: *mut c_void, suspender: &Suspender, _first: u32) -> ! {
    let co = arg.cast::<BackendCoroutine>();
    // SAFETY: per the contract `co` is live; no one else touches `suspender`
    // before this fiber first runs.
    unsafe { (*co).suspender = suspender };
    loop {
        // SAFETY: QEMU sets entry before entering; `co` is live while we run.
        let (entry, entry_arg) = unsafe { ((*co).base.entry, (*co).base.entry_arg) };
        match entry {
            // SAFETY: entry is QEMU's CoroutineEntry for entry_arg.
            Some(f) => unsafe { f(entry_arg) },
            None => fatal("entered a coroutine with no entry function"),
        }
        // SAFETY: the coroutine is running, so QEMU has set its caller; this
        // is exactly how QEMU's own backends terminate.
        unsafe {
            let base = ptr::addr_of_mut!((*co).base);
            qemu_coroutine_switch(base, (*base).caller, COROUTINE_TERMINATE);
        }
    }
}

/// Aborts if a slab stack (no guard page) overflowed its bottom.
///
/// # Safety
/// `co` is a live BackendCoroutine.
#[inline(always)]
unsafe fn check_canary(co: *const BackendCoroutine) {
    // SAFETY: per the contract.
    if let Some(canary) = unsafe { (*co).canary } {
        if !canary.intact() {
            fatal("a coroutine overflowed its (unguarded, slab) stack");
        }
    }
}

fn fatal(msg: &str) -> ! {
    eprintln!("qemucoro: {msg}");
    std::process::abort();
}

/// QEMU: allocate a coroutine with its own stack, ready to be entered.
#[unsafe(no_mangle)]
extern "C" fn qemu_coroutine_new() -> *mut QemuCoroutine {
    no_unwind(|| {
        let co = Box::into_raw(Box::new(BackendCoroutine {
            base: QemuCoroutine::ZERO,
            suspender: ptr::null(),
            canary: None,
            stack: (0, 0),
            fiber: None,
        }));
        let stack = Stack::new(DEFAULT_STACK_SIZE);
        let canary = stack.arm_canary();
        let fiber = Fiber::new(stack, trampoline, co.cast());
        // SAFETY: `co` came from Box::into_raw just above and is not shared yet.
        unsafe {
            (*co).canary = canary;
            (*co).stack = fiber.stack_bounds();
            (*co).fiber = Some(fiber);
        }
        co.cast::<QemuCoroutine>()
    })
}

/// QEMU: free a coroutine that has terminated (or never been entered).
///
/// # Safety
/// `co` came from `qemu_coroutine_new` and is not running or suspended
/// mid-entry; QEMU only deletes terminated coroutines from its pool.
#[unsafe(no_mangle)]
unsafe extern "C" fn qemu_coroutine_delete(co: *mut QemuCoroutine) {
    no_unwind(|| {
        // SAFETY: per the contract `co` is a BackendCoroutine from
        // Box::into_raw; the Fiber's Drop discards its parked context.
        drop(unsafe { Box::from_raw(co.cast::<BackendCoroutine>()) });
    })
}

/// QEMU: switch from `from` (the running coroutine) to `to`, passing
/// `action`; returns the action passed by the switch that comes back here.
///
/// # Safety
/// `from` is the current coroutine of this thread. For ENTER, `to` is a
/// coroutine from `qemu_coroutine_new` that is not running; otherwise `to`
/// is `from`'s caller and `from` came from `qemu_coroutine_new`.
#[unsafe(no_mangle)]
#[inline(never)]
unsafe extern "C" fn qemu_coroutine_switch(
    from: *mut QemuCoroutine,
    to: *mut QemuCoroutine,
    action: c_int,
) -> c_int {
    // Set before the switch (see "TLS discipline"): after it we may be on
    // another thread, and nothing below touches TLS.
    set_current(to);
    // Under TSan (no-ops otherwise), what QEMU's ucontext backend does
    // around its switch: the TSan fiber we leave is acquired before it and
    // released once we are back on it. The fiber switches are src/switch's.
    let me = tsan_fiber();
    acquire(me);
    let back = if action == COROUTINE_ENTER {
        // SAFETY: per the contract `to` is a BackendCoroutine not running
        // anywhere, so we may resume its fiber.
        let fiber = unsafe { (*to.cast::<BackendCoroutine>()).fiber.as_mut() };
        match fiber {
            Some(f) => f.resume(action as u32),
            None => fatal("ENTER of a coroutine without a stack (a thread leader?)"),
        }
    } else if action == COROUTINE_YIELD || action == COROUTINE_TERMINATE {
        let from = from.cast::<BackendCoroutine>();
        // SAFETY: `from` is a running BackendCoroutine (a leader never yields:
        // it has no caller), so its fiber has started and set its suspender,
        // and suspend returns to `to`, the one that resumed it.
        unsafe {
            check_canary(from);
            if action == COROUTINE_TERMINATE {
                // Every C frame on this stack has returned; only our loop
                // stays (see asan_drop_fake_stack; a no-op without ASan).
                let (bottom, size) = (*from).stack;
                asan_drop_fake_stack(bottom, size);
            }
            (*(*from).suspender).suspend(action as u32)
        }
    } else {
        fatal("qemu_coroutine_switch with an unknown action")
    };
    release(me);
    back as c_int
}

/// TSan's handle of the running fiber (null without the `tsan` feature).
#[inline(always)]
fn tsan_fiber() -> *const u8 {
    #[cfg(feature = "tsan")]
    {
        extern "C" {
            fn __tsan_get_current_fiber() -> *mut c_void;
        }
        // SAFETY: only reads TSan's current fiber; the runtime comes from
        // QEMU's -fsanitize=thread link.
        unsafe { __tsan_get_current_fiber().cast_const().cast() }
    }
    #[cfg(not(feature = "tsan"))]
    ptr::null()
}

/// QEMU: the running coroutine, or this thread's leader outside any.
#[unsafe(no_mangle)]
#[inline(never)]
extern "C" fn qemu_coroutine_self() -> *mut QemuCoroutine {
    let co = current();
    if !co.is_null() {
        return co;
    }
    adopt_leader()
}

/// First qemu_coroutine_self() of a thread outside any coroutine: the
/// thread's leader becomes current. Out of line so the hot path above
/// stays a load, a test and a return.
#[cold]
#[inline(never)]
fn adopt_leader() -> *mut QemuCoroutine {
    let l = leader();
    set_current(l);
    l
}

/// QEMU: whether the caller runs inside a coroutine (not the leader).
#[unsafe(no_mangle)]
#[inline(never)]
extern "C" fn qemu_in_coroutine() -> bool {
    let co = current();
    // SAFETY: a non-null current is a live coroutine or this thread's leader.
    !co.is_null() && !unsafe { (*co).caller }.is_null()
}

#[cfg(test)]
mod tests {
    //! Drives the five functions the way QEMU's util/qemu-coroutine.c does
    //! (enter sets `caller`, yield clears it); QEMU's own tests are run by
    //! `make check-qemu`.
    use super::*;

    unsafe fn enter(co: *mut QemuCoroutine) -> c_int {
        let me = qemu_coroutine_self();
        // SAFETY: co is a live coroutine that is not running.
        unsafe {
            (*co).caller = me;
            qemu_coroutine_switch(me, co, COROUTINE_ENTER)
        }
    }

    unsafe fn yield_now() {
        let me = qemu_coroutine_self();
        // SAFETY: called inside a coroutine, whose caller is set.
        unsafe {
            let to = (*me).caller;
            (*me).caller = ptr::null_mut();
            assert_eq!(qemu_coroutine_switch(me, to, COROUTINE_YIELD), COROUTINE_ENTER);
        }
    }

    unsafe extern "C" fn count_and_yield(arg: *mut c_void) {
        let n = arg.cast::<u32>();
        assert!(qemu_in_coroutine());
        // SAFETY: arg points at the test's counter, alive for the test.
        unsafe {
            *n += 1;
            yield_now();
            *n += 1;
        }
    }

    #[test]
    fn enter_yield_terminate_and_reuse() {
        let mut n = 0u32;
        assert!(!qemu_in_coroutine());
        let leader = qemu_coroutine_self();
        let co = qemu_coroutine_new();
        // SAFETY: co is fresh; the entry and arg outlive its two runs.
        unsafe {
            for round in 1..=2 {
                (*co).entry = Some(count_and_yield);
                (*co).entry_arg = ptr::addr_of_mut!(n).cast();
                assert_eq!(enter(co), COROUTINE_YIELD);
                assert_eq!(n, 2 * round - 1);
                assert_eq!(enter(co), COROUTINE_TERMINATE);
                assert_eq!(n, 2 * round);
                assert_eq!(qemu_coroutine_self(), leader);
            }
            qemu_coroutine_delete(co);
        }
    }

    #[test]
    fn resumes_on_another_thread() {
        struct Send(*mut QemuCoroutine);
        // SAFETY: the coroutine is handed over, never used by two threads.
        unsafe impl std::marker::Send for Send {}
        static mut N: u32 = 0;
        let co = qemu_coroutine_new();
        // SAFETY: co is fresh; N is only touched by the coroutine.
        unsafe {
            (*co).entry = Some(count_and_yield);
            (*co).entry_arg = ptr::addr_of_mut!(N).cast();
            assert_eq!(enter(co), COROUTINE_YIELD);
        }
        let co = Send(co);
        std::thread::spawn(move || {
            let co = co;
            // SAFETY: the coroutine yielded on the main thread and is idle.
            unsafe {
                assert_eq!(enter(co.0), COROUTINE_TERMINATE);
                assert!(!qemu_in_coroutine());
                qemu_coroutine_delete(co.0);
            }
        })
        .join()
        .unwrap();
    }
}
