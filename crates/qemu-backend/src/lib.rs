//! QEMU coroutine backend: the five functions QEMU's generic coroutine layer
//! (util/qemu-coroutine.c) expects from a util/coroutine-*.c backend,
//! implemented on the same fibers, switch and thread block as the C API
//! (qemucoro-switch), and on the same fiber base (switch/base.rs: the
//! running coroutine, the leader, the body loop). A crate of its own: `cargo build -p
//! qemucoro-qemu-backend` (qemu/build-backend.sh).
//!
//! QEMU owns everything generic: the pool, locks, sleeping, AioContext
//! wake-ups. This module adds only QEMU's struct layout and the five
//! functions: create/destroy a coroutine, switch, and the per-thread
//! current coroutine and leader.
//!
//! QEMU's switches are strictly nested: ENTER always goes from the current
//! coroutine (or the thread's leader) into a suspended coroutine whose
//! `caller` QEMU just set, and YIELD/TERMINATE always go from the running
//! coroutine back to its `caller`. So ENTER swaps through the entered
//! fiber's slot and YIELD/TERMINATE through the leaving one's: the same
//! switch either way. `qemu_coroutine_switch` is the checks and
//! bookkeeping, then a tail jump into the switch (as the C API's yield
//! is), so no `ret` crosses a switch; x86_64 sanitizer builds use an
//! assembly stub (switch/arch's `switch_stub!`) that calls `switch_begin`
//! and `switch_end` around it.

use std::ffi::{c_char, c_int, c_void};
use std::mem::{offset_of, size_of};
use std::ptr;

use qemucoro_switch::base::Entry;
use qemucoro_switch::stack::{Stack, DEFAULT_STACK_SIZE};
use qemucoro_switch::{self as switch, Current, Fiber, FiberOwner, Leader};
use qemucoro_util::qemu_layout::QEMU_COROUTINE_WORDS;
use qemucoro_util::sanitizer::acquire;

mod registry;

// The switch, compiled into this crate so that qemu_coroutine_switch
// tail-jumps into it directly (see the macro).
qemucoro_switch::define_switch!();
use registry::{Head, Linked, Links};

/// QEMU's `CoroutineAction` values (a C enum, so passed as `int`).
const COROUTINE_YIELD: c_int = 1;
const COROUTINE_TERMINATE: c_int = 2;
const COROUTINE_ENTER: c_int = 3;

/// Mirror of QEMU's `struct Coroutine` (include/qemu/coroutine_int.h). QEMU's
/// generic code reads and writes all of these; we only touch `entry`,
/// `entry_arg` and `caller`. The offsets are pinned below and checked against
/// the QEMU tree being built by qemu/coroutine-qemucoro-layout.h, which
/// asserts the same table with QEMU's own headers.
#[repr(C)]
struct QemuCoroutine {
    entry: Option<Entry>,
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

// The layout contract: QEMU's word offsets (util's qemu_layout, which
// qemu/coroutine-qemucoro-layout.h checks in C), and exactly QEMU's size.
qemucoro_util::assert_qemu_coroutine_layout!(QemuCoroutine {
    entry,
    entry_arg,
    caller,
    pool_next,
    locks_held,
    ctx,
    scheduled,
    co_queue_next,
    co_queue_wakeup,
    co_scheduled_next
});
const _: () = assert!(size_of::<QemuCoroutine>() == QEMU_COROUTINE_WORDS * size_of::<usize>());

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

/// A coroutine made by `qemu_coroutine_new`, or a thread's leader (no
/// stack). QEMU only ever sees `&base`, which is at offset 0 so the pointer
/// converts both ways.
#[repr(C)]
struct BackendCoroutine {
    base: QemuCoroutine,
    /// The stack, its check and the switch's slot; stackless for a leader.
    fiber: Fiber,
    /// On `REGISTRY` from `qemu_coroutine_new` to `qemu_coroutine_delete`
    /// (a leader never is).
    links: Links<BackendCoroutine>,
}

impl Linked for BackendCoroutine {
    fn links(&self) -> &Links<BackendCoroutine> {
        &self.links
    }
}

/// Every coroutine made and not yet deleted, for gdb (registry.rs).
#[used]
#[export_name = "qemucoro_qemu_registry"]
static REGISTRY: Head<BackendCoroutine> = Head::new();

impl BackendCoroutine {
    const fn blank() -> BackendCoroutine {
        BackendCoroutine {
            base: QemuCoroutine::ZERO,
            fiber: Fiber::empty(),
            links: Links::new(),
        }
    }
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
    /// The switch's slot: a suspended coroutine's saved stack pointer, at
    /// which the switch's frame lies (crates/switch/src/arch/x86_64.rs).
    sp: usize,
    /// The next coroutine on `qemucoro_qemu_registry`'s list (null at the
    /// end).
    next: usize,
}

#[used]
#[export_name = "qemucoro_qemu_gdb_layout"]
static GDB_LAYOUT: GdbLayout = GdbLayout {
    version: 3,
    caller: offset_of!(QemuCoroutine, caller),
    stack_bottom: offset_of!(BackendCoroutine, fiber) + switch::layout::BOTTOM,
    stack_size: offset_of!(BackendCoroutine, fiber) + switch::layout::SIZE,
    sp: offset_of!(BackendCoroutine, fiber) + switch::layout::SP,
    next: offset_of!(BackendCoroutine, links) + offset_of!(Links<BackendCoroutine>, next),
};

/// The thread block (switch/arch) as this mode uses it: the running
/// coroutine (the switch's fiber base, as the core's block has it).
#[repr(C)]
struct ThreadBlock {
    current: Current<BackendCoroutine>,
}

const _: () = assert!(size_of::<ThreadBlock>() <= switch::THREAD_BLOCK_SIZE);

/// This thread's block; its address is computed afresh at every call, so
/// a coroutine that moved to another thread reads that thread's (see
/// switch/arch/x86_64.rs). Use the reference at once.
#[inline(always)]
fn block() -> &'static ThreadBlock {
    // SAFETY: the block is zeroed per-thread memory, a valid ThreadBlock,
    // touched only by its own thread.
    unsafe { &*switch::thread_block().cast::<ThreadBlock>() }
}

thread_local! {
    /// The thread's leader (see `Leader`).
    static LEADER: Leader<BackendCoroutine> = const { Leader::new(BackendCoroutine::blank()) };
}

/// What the fiber base's body loop (`switch::body`) runs a coroutine
/// with. It runs forever: QEMU's pool keeps a terminated coroutine (stack
/// and all) and re-uses it by setting a new entry/entry_arg and entering
/// it again, which lands right after our TERMINATE switch.
impl FiberOwner for BackendCoroutine {
    fn fiber(&self) -> &Fiber {
        &self.fiber
    }

    fn entry(&self) -> Option<Entry> {
        self.base.entry
    }

    fn entry_arg(&self) -> *mut c_void {
        self.base.entry_arg
    }

    fn no_entry() -> ! {
        fatal("entered a coroutine with no entry function")
    }

    /// Exactly how QEMU's own backends terminate.
    unsafe fn terminate(&self) {
        let base = ptr::from_ref(&self.base).cast_mut();
        // SAFETY: the coroutine is running, so QEMU has set its caller.
        unsafe { qemu_coroutine_switch(base, (*base).caller, COROUTINE_TERMINATE) };
    }
}

#[cold]
#[inline(never)]
fn fatal(msg: &str) -> ! {
    eprintln!("qemucoro: {msg}");
    std::process::abort();
}

/// QEMU: allocate a coroutine with its own stack, ready to be entered.
#[unsafe(no_mangle)]
extern "C" fn qemu_coroutine_new() -> *mut QemuCoroutine {
    let co = Box::into_raw(Box::new(BackendCoroutine::blank()));
    // SAFETY: `co` came from Box::into_raw just above and is not shared yet.
    let c = unsafe { &*co };
    let stack = Stack::new(DEFAULT_STACK_SIZE);
    // SAFETY: the fiber is new and lives in the box, which never moves.
    unsafe {
        c.fiber
            .prepare(stack, switch::body::<BackendCoroutine>, co.cast())
    };
    // SAFETY: `co` is live and new; `qemu_coroutine_delete` removes it
    // before freeing it.
    unsafe { REGISTRY.insert(co) };
    co.cast::<QemuCoroutine>()
}

/// QEMU: free a coroutine that has terminated (or never been entered).
///
/// # Safety
/// `co` came from `qemu_coroutine_new` and is not running or suspended
/// mid-entry; QEMU only deletes terminated coroutines from its pool.
#[unsafe(no_mangle)]
unsafe extern "C" fn qemu_coroutine_delete(co: *mut QemuCoroutine) {
    // SAFETY: per the contract `co` is a BackendCoroutine from Box::into_raw;
    // nothing on its parked stack has Drop code. It went on the list in
    // qemu_coroutine_new.
    unsafe {
        let co = co.cast::<BackendCoroutine>();
        REGISTRY.remove(co);
        drop(Box::from_raw(co));
    }
}

/// QEMU: switch from `from` (the running coroutine) to `to`, passing
/// `action`; returns the action passed by the switch that comes back here.
///
/// The checks, then a tail jump into the switch (LLVM's sibling call into
/// this crate's copy of the switch, which qemu/build-backend.sh checks),
/// so that the side switched to resumes straight in QEMU's caller: no
/// `ret` crosses the switch, and no frame of ours stays under it.
///
/// # Safety
/// `from` is the current coroutine of this thread. For ENTER, `to` is a
/// coroutine from `qemu_coroutine_new` that is not running; otherwise `to`
/// is `from`'s caller and `from` came from `qemu_coroutine_new`.
#[cfg(not(any(feature = "asan", feature = "tsan")))]
#[unsafe(no_mangle)]
unsafe extern "C" fn qemu_coroutine_switch(
    from: *mut QemuCoroutine,
    to: *mut QemuCoroutine,
    action: c_int,
) -> c_int {
    let slot = begin(from, to, action);
    // SAFETY: `begin` returned the slot of the side being entered or left,
    // per this function's contract.
    unsafe { qemucoro_switch(slot, action as usize) as c_int }
}

/// As above, with the sanitizers' hooks after the switch.
#[cfg(all(target_arch = "x86_64", any(feature = "asan", feature = "tsan")))]
#[unsafe(naked)]
#[unsafe(no_mangle)]
unsafe extern "C" fn qemu_coroutine_switch(
    from: *mut QemuCoroutine,
    to: *mut QemuCoroutine,
    action: c_int,
) -> c_int {
    qemucoro_switch::switch_stub!(switch_begin, switch::arch::qemucoro_switch, switch_end)
}

/// As above with the sanitizers' hooks, for targets without an assembly
/// stub.
#[cfg(all(not(target_arch = "x86_64"), any(feature = "asan", feature = "tsan")))]
#[unsafe(no_mangle)]
unsafe extern "C" fn qemu_coroutine_switch(
    from: *mut QemuCoroutine,
    to: *mut QemuCoroutine,
    action: c_int,
) -> c_int {
    let slot = begin(from, to, action);
    // SAFETY: begin returned the slot of the side being entered or
    // left, per this function's contract.
    let back = unsafe { switch::switch(slot, action as u32) } as c_int;
    switch_end(from, to, action, back)
}

/// Everything `qemu_coroutine_switch` does before its switch: the running
/// coroutine becomes `to`, the leaving side's canary is checked, the
/// sanitizers are told; returns the slot to switch on.
#[cfg(all(target_arch = "x86_64", any(feature = "asan", feature = "tsan")))]
extern "C" fn switch_begin(
    from: *mut QemuCoroutine,
    to: *mut QemuCoroutine,
    action: c_int,
) -> *mut usize {
    begin(from, to, action)
}

#[inline(always)]
fn begin(from: *mut QemuCoroutine, to: *mut QemuCoroutine, action: c_int) -> *mut usize {
    // Before the switch: after it we may be on another thread.
    block().current.set(to.cast());
    // Under TSan (a no-op otherwise), what QEMU's ucontext backend does
    // around its switch: the TSan fiber we leave is acquired before it and
    // released once we are back on it (switch_end). The fiber switches
    // themselves are the Fiber's hooks.
    acquire(tsan_fiber());
    let (from, to) = (
        from.cast::<BackendCoroutine>(),
        to.cast::<BackendCoroutine>(),
    );
    // SAFETY: per qemu_coroutine_switch's contract both are live; `from`
    // is this thread's current coroutine or leader, created by us.
    let (from, to) = unsafe { (&*from, &*to) };
    if action == COROUTINE_ENTER {
        if !to.fiber.has_stack() {
            fatal("ENTER of a coroutine without a stack (a thread leader?)");
        }
        to.fiber.before_resume(&from.fiber);
        return to.fiber.slot();
    }
    if action != COROUTINE_YIELD && action != COROUTINE_TERMINATE {
        fatal("qemu_coroutine_switch with an unknown action");
    }
    from.fiber
        .check_stack(|| fatal("a coroutine overflowed its (software-checked, slab) stack"));
    from.fiber.before_suspend(action == COROUTINE_TERMINATE);
    from.fiber.slot()
}

/// The sanitizers' half of a switch that came back to `from`.
#[cfg(any(feature = "asan", feature = "tsan"))]
extern "C" fn switch_end(
    from: *mut QemuCoroutine,
    _to: *mut QemuCoroutine,
    action: c_int,
    back: c_int,
) -> c_int {
    // SAFETY: `from` is live: it is running again.
    let from = unsafe { &*from.cast::<BackendCoroutine>() };
    if action == COROUTINE_ENTER {
        Fiber::after_resume(&from.fiber);
    } else {
        from.fiber.after_suspend();
    }
    qemucoro_util::sanitizer::release(tsan_fiber());
    back
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
    std::ptr::null()
}

/// QEMU: the running coroutine, or this thread's leader outside any.
#[unsafe(no_mangle)]
extern "C" fn qemu_coroutine_self() -> *mut QemuCoroutine {
    block().current.get(adopt_leader).cast_mut().cast()
}

/// First qemu_coroutine_self() of a thread outside any coroutine: the
/// thread's leader becomes current. Out of line so the hot path above
/// stays a load, a test and a return.
#[cold]
#[inline(never)]
fn adopt_leader() -> *const BackendCoroutine {
    block().current.adopt(&LEADER)
}

/// QEMU: whether the caller runs inside a coroutine (not the leader).
#[unsafe(no_mangle)]
extern "C" fn qemu_in_coroutine() -> bool {
    let co = block().current.peek();
    // SAFETY: a non-null current is a live coroutine or this thread's leader.
    !co.is_null() && !unsafe { (*co).base.caller }.is_null()
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
            assert_eq!(
                qemu_coroutine_switch(me, to, COROUTINE_YIELD),
                COROUTINE_ENTER
            );
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

// A panic or an allocation failure: one line and abort (see the macro).
qemucoro_util::define_abort_hooks!();
