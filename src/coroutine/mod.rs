//! The coroutine: create, enter, yield, terminate (the home of QEMU's
//! `qemu-coroutine.c` semantics).
//!
//! A coroutine runs on its own fiber. `enter` resumes the fiber with the
//! enterer recorded as `caller`; `yield` clears `caller` and suspends back to
//! it. When the entry function returns, the fiber's body suspends one last
//! time with TERMINATE and the enterer recycles the coroutine into the pool,
//! fiber and stack intact, ready for the next `create`.
//!
//! Each of enter and yield is split around its one switch: `begin_*` does
//! every check and the bookkeeping and returns the slot to switch on, and
//! `enter_end` does what the enterer does once the coroutine is back. The C
//! API's `qemu_coroutine_enter` and `qemu_coroutine_yield` are assembly
//! stubs that call these and the switch with no `ret` across a switch
//! (capi/coroutine.rs); Rust callers use `enter` and `yield_now`.
//!
//! Coroutines are shared with C as raw pointers and may move between threads,
//! so every mutable field is a `Cell` (plain stores, no aliasing `&mut`) and
//! the one field written by other threads, `scheduled`, is atomic. Only the
//! thread currently running or entering a coroutine touches its cells.

pub(crate) mod current;
pub(crate) mod event_loop;
mod fork;
mod init;
pub(crate) mod overflow;
pub(crate) mod pool;
pub(crate) mod registry;
pub(crate) mod stats;
mod thread_block;
mod unload;
pub(crate) mod wait;

use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};

use crate::switch::stack::{Canary, Stack, DEFAULT_STACK_SIZE};
use crate::switch::{self, Fiber};
use crate::util::abort::die;
use crate::util::list::{Linked, List};

/// `void coroutine_fn CoroutineEntry(void *opaque)`.
pub type CoroutineEntry = unsafe extern "C" fn(opaque: *mut c_void);

/// Stands for QEMU's C function type `CoroutineEntry` so that the header
/// declares `CoroutineEntry *entry` as QEMU does; never instantiated.
#[repr(C)]
pub struct CoroutineEntryFn {
    _opaque: [u8; 0],
}

/// What a switch tells the other side (QEMU's `CoroutineAction` values).
pub(crate) const ACTION_YIELD: u32 = 1;
pub(crate) const ACTION_TERMINATE: u32 = 2;
pub(crate) const ACTION_ENTER: u32 = 3;

/// `Coroutine::state`: pooled (or a leader) until created, then live until
/// it terminates. Read by the statistics and the gdb script.
pub(crate) const STATE_POOLED: u8 = 0;
pub(crate) const STATE_LIVE: u8 = 1;

/// The list coroutines queue on (wake-ups, CoQueue, CoMutex's waiters).
pub type CoList = List<Coroutine>;

/// A coroutine, or a thread's leader (which has no fiber).
pub struct Coroutine {
    pub(crate) entry: Cell<Option<CoroutineEntry>>,
    pub(crate) entry_arg: Cell<*mut c_void>,
    /// Who entered us last; null while not entered.
    pub(crate) caller: Cell<*const Coroutine>,
    /// The AioContext the coroutine was last entered in (opaque here).
    /// Atomic because wakers on other threads read it.
    pub(crate) ctx: AtomicPtr<c_void>,
    /// Name of the function that scheduled us, while scheduled.
    pub(crate) scheduled: AtomicPtr<c_char>,
    pub(crate) locks_held: Cell<usize>,
    /// Link for whichever `CoList` the coroutine is on.
    pub(crate) queue_next: Cell<*const Coroutine>,
    /// Coroutines to run after this one next yields or terminates.
    pub(crate) wakeup: CoList,
    /// Link for an event loop's list of scheduled coroutines.
    pub(crate) scheduled_next: AtomicPtr<Coroutine>,
    /// The stack and the switch's slot; stackless for a leader.
    pub(crate) fiber: Fiber,
    /// The switch-out check of a software-checked stack; None for guarded ones.
    canary: Cell<Option<Canary>>,
    /// `STATE_*`; atomic only so that statistics may read it from any
    /// thread (relaxed: a plain store on the create/terminate paths).
    pub(crate) state: AtomicU8,
    /// Place in the registry of stacks (see registry.rs).
    pub(crate) registry: registry::Link,
    /// Whether the stack holds no pages below its top page (given back
    /// since it last ran): the pool's record, see pool.rs.
    pub(crate) stack_clean: Cell<bool>,
    /// What the coroutine waits for while suspended (wait.rs).
    pub(crate) wait: wait::Wait,
}

/// What `caller` holds while a coroutine is pooled: not null, so the enter
/// path's existing "already entered?" test catches a stale `Coroutine *`
/// at no extra cost, and the cold path tells the two cases apart.
static POOLED_MARK: u8 = 0;

fn pooled_mark() -> *const Coroutine {
    ptr::addr_of!(POOLED_MARK).cast()
}

impl Linked for Coroutine {
    fn next(&self) -> &Cell<*const Coroutine> {
        &self.queue_next
    }
}

impl Coroutine {
    /// A coroutine with no stack and no entry: as is, a thread's leader
    /// (never entered, never yields); `new_boxed` gives it a fiber.
    pub const fn blank() -> Coroutine {
        Coroutine {
            entry: Cell::new(None),
            entry_arg: Cell::new(ptr::null_mut()),
            caller: Cell::new(ptr::null()),
            ctx: AtomicPtr::new(ptr::null_mut()),
            scheduled: AtomicPtr::new(ptr::null_mut()),
            locks_held: Cell::new(0),
            queue_next: Cell::new(ptr::null()),
            wakeup: CoList::new(),
            scheduled_next: AtomicPtr::new(ptr::null_mut()),
            fiber: Fiber::empty(),
            canary: Cell::new(None),
            state: AtomicU8::new(STATE_POOLED),
            registry: registry::Link::new(),
            stack_clean: Cell::new(false),
            wait: wait::Wait::new(),
        }
    }

    /// Where `fiber` lies, for the gdb script's layout table.
    pub(crate) const FIBER_OFFSET: usize = std::mem::offset_of!(Coroutine, fiber);

    /// A new coroutine with its own stack, parked before its first entry
    /// (the cold half of `create`: it maps a stack).
    #[cold]
    #[inline(never)]
    pub(crate) fn new_boxed(stack_size: usize) -> *mut Coroutine {
        let co = Box::into_raw(Box::new(Coroutine::blank()));
        // SAFETY: `co` was just allocated above and is not shared yet.
        let c = unsafe { &*co };
        let stack = Stack::new(stack_size);
        c.canary.set(stack.arm_canary());
        // SAFETY: the fiber is new, and it lives in the box, which never
        // moves; the body gets the coroutine it was made for.
        unsafe { c.fiber.prepare(stack, fiber_main, co.cast()) };
        registry::add(c);
        co
    }

    /// Frees a coroutine that is not running, queued or scheduled.
    ///
    /// # Safety
    /// `co` came from `new_boxed` and no pointer to it is used afterwards.
    pub(crate) unsafe fn free(co: *mut Coroutine) {
        // SAFETY: per the contract, the box is ours to drop; its fiber's
        // stack goes with it (nothing on it has Drop code).
        unsafe {
            registry::remove(&*co);
            drop(Box::from_raw(co));
        }
    }

    pub fn is_entered(&self) -> bool {
        !self.caller.get().is_null()
    }

    /// The usable stack as (lowest address, size); None for a leader.
    pub fn stack_bounds(&self) -> Option<(usize, usize)> {
        self.fiber.stack_bounds()
    }

    /// Whether the coroutine's entry returned and it waits in a pool: a
    /// `Coroutine *` the caller should no longer have.
    pub fn is_pooled(&self) -> bool {
        self.caller.get() == pooled_mark()
    }

    /// Gives back the stack pages of a terminated coroutine but for the top
    /// one, which holds its parked frames (see pool.rs),
    /// unless that was done since it last ran.
    pub(crate) fn discard_cold_stack(&self) {
        if self.stack_clean.replace(true) {
            return;
        }
        if let Some((bottom, size)) = self.stack_bounds() {
            crate::switch::stack::discard_cold_pages(bottom, size);
        }
    }

    /// Aborts if the coroutine ran past the bottom of a software-checked stack.
    #[inline(always)]
    fn check_canary(&self) {
        if let Some(canary) = self.canary.get() {
            self.check_band(canary);
        }
    }

    /// Out of line and cold, so that the hot path of a guarded stack saves
    /// no register for it.
    #[cold]
    #[inline(never)]
    fn check_band(&self, canary: Canary) {
        if !canary.intact() {
            self.overflowed();
        }
    }

    #[cold]
    fn overflowed(&self) -> ! {
        crate::coroutine::overflow::report(
            self,
            " (a software-checked stack: caught at switch-out)",
        )
    }
}

/// `qemu_coroutine_create`: a coroutine from the pool, or a new one.
#[inline(always)]
pub fn create(entry: CoroutineEntry, opaque: *mut c_void) -> *mut Coroutine {
    let co = match pool::get() {
        Some(co) => co,
        None => Coroutine::new_boxed(DEFAULT_STACK_SIZE),
    };
    // SAFETY: a pooled or new coroutine is ours alone until returned.
    let c = unsafe { &*co };
    c.entry.set(Some(entry));
    c.entry_arg.set(opaque);
    c.caller.set(ptr::null());
    c.ctx.store(ptr::null_mut(), Ordering::Relaxed);
    c.state.store(STATE_LIVE, Ordering::Relaxed);
    co
}

/// `qemu_aio_coroutine_enter`: runs `co`, then every coroutine it woke,
/// depth first, until all have yielded or terminated. A null `ctx` means
/// the calling thread's own context.
pub fn enter(ctx: *mut c_void, co: &Coroutine) {
    let slot = begin_enter(ctx, co);
    // SAFETY: begin_enter checked that `co` is suspended and made it the
    // running coroutine; it switches back here through the same slot.
    let action = unsafe { switch::switch(slot, ACTION_ENTER) };
    finish_enter(co, action);
}

/// The enter path's first half, for the C stub: the checks of `enter`
/// (and QEMU's NULL check), then a tail jump into the switch, so that the
/// coroutine comes back straight into the stub with its action (in the
/// low 32 bits: the switch's word is returned whole, as a truncation
/// between the call and the return keeps LLVM from the tail call on
/// aarch64).
#[link_section = ".text.hot.qemucoro"]
pub(crate) extern "C" fn enter_begin(co: *const Coroutine) -> usize {
    // SAFETY: C passes a coroutine pointer; NULL is rejected here.
    let Some(co) = (unsafe { co.as_ref() }) else {
        crate::util::abort::null_arg("qemu_coroutine_enter", "co")
    };
    let slot = begin_enter(ptr::null_mut(), co);
    // SAFETY: as in `enter`.
    unsafe { switch::arch::qemucoro_switch(slot, ACTION_ENTER as usize) }
}

/// The enter path's second half, for the C stub: `action` is what the
/// switch into `co` returned.
#[link_section = ".text.hot.qemucoro"]
pub(crate) extern "C" fn enter_end(co: *const Coroutine, action: u32) {
    // SAFETY: enter_begin accepted `co`; it is live at least until
    // finish_enter recycles it.
    finish_enter(unsafe { &*co }, action);
}

/// Everything an enter does before its switch; returns the slot.
#[inline(always)]
fn begin_enter(ctx: *mut c_void, to: &Coroutine) -> *mut usize {
    check_enterable(to);
    let t = thread_block::block();
    let mut from = t.current.get();
    if from.is_null() {
        from = init::adopt_leader();
    }
    to.caller.set(from);
    let ctx = if !ctx.is_null() {
        ctx
    } else {
        match t.aio_context.get() {
            c if c.is_null() => init::thread_default_context(),
            c => c,
        }
    };
    // Release: a waker that reads ctx also sees what we stored before.
    to.ctx.store(ctx, Ordering::Release);
    if let Some(canary) = to.canary.get() {
        canary.prefetch(); // read after the switch back (stack.rs says why)
    }
    // The coroutine sets `current` back to `from` before it switches back.
    t.current.set(to);
    // SAFETY: `from` is the running coroutine or this thread's leader.
    to.fiber.before_resume(unsafe { &(*from).fiber });
    to.fiber.slot()
}

/// Everything an enter does once `to` switched back with `action`.
#[inline(always)]
fn finish_enter(to: &Coroutine, action: u32) {
    after_resume();
    to.check_canary();
    if !to.wakeup.is_empty() {
        return run_woken(to, action);
    }
    if action == ACTION_TERMINATE {
        terminated(to);
    }
}

/// The sanitizers' half of a switch that came back to the enterer.
#[inline(always)]
fn after_resume() {
    // SAFETY: the coroutine restored `current` to us before coming back.
    #[cfg(feature = "asan")]
    Fiber::after_resume(unsafe { &(*current::get()).fiber });
}

/// The rest of an enter whose coroutine woke others: QEMU's order, the
/// most recently woken first, each one's own wake-ups before its elders'.
#[inline(never)]
fn run_woken(first: &Coroutine, action: u32) {
    let pending = CoList::new();
    pending.prepend(&first.wakeup);
    if action == ACTION_TERMINATE {
        terminated(first);
    }
    while let Some(to) = pending.pop_front() {
        let slot = begin_enter(ptr::null_mut(), to);
        // SAFETY: as in `enter`.
        let action = unsafe { switch::switch(slot, ACTION_ENTER) };
        after_resume();
        to.check_canary();
        pending.prepend(&to.wakeup);
        if action == ACTION_TERMINATE {
            terminated(to);
        }
    }
}

#[inline(always)]
fn check_enterable(to: &Coroutine) {
    let scheduled = to.scheduled.load(Ordering::Acquire);
    if !scheduled.is_null() {
        already_scheduled(scheduled);
    }
    if to.is_entered() {
        not_enterable(to);
    }
    if !to.fiber.has_stack() {
        die(format_args!(
            "qemu_coroutine_enter: cannot enter a thread's leader"
        ));
    }
}

#[cold]
#[inline(never)]
fn not_enterable(to: &Coroutine) -> ! {
    if to.is_pooled() {
        die_stale("qemu_coroutine_enter");
    }
    die(format_args!("Co-routine re-entered recursively"))
}

/// Aborts because `func` was given a coroutine that had terminated.
#[cold]
pub(crate) fn die_stale(func: &str) -> ! {
    die(format_args!(
        "{func}: Co-routine used after it terminated (its Coroutine * is stale)"
    ))
}

#[cold]
#[inline(never)]
fn already_scheduled(scheduled: *const c_char) -> ! {
    // SAFETY: `scheduled` only ever holds NUL-terminated static names.
    let name = unsafe { std::ffi::CStr::from_ptr(scheduled) };
    die(format_args!(
        "qemu_aio_coroutine_enter: Co-routine was already scheduled in '{}'",
        name.to_string_lossy()
    ))
}

#[inline(always)]
fn terminated(co: &Coroutine) {
    let held = co.locks_held.get();
    if held != 0 {
        terminated_holding_locks(held);
    }
    if co.state.load(Ordering::Relaxed) != STATE_LIVE {
        terminated_twice();
    }
    co.caller.set(pooled_mark());
    co.state.store(STATE_POOLED, Ordering::Relaxed);
    pool::put(ptr::from_ref(co).cast_mut());
}

#[cold]
#[inline(never)]
fn terminated_holding_locks(held: usize) -> ! {
    die(format_args!(
        "Co-routine terminated while holding {held} lock(s)"
    ))
}

/// `aio_co_wake` for the layers below the event loop (the locks): re-enters
/// `co` in the context it last ran in, through the event loop's hook.
pub fn wake(co: &Coroutine) {
    event_loop::wake(co);
}

/// `qemu_coroutine_yield`: back to whoever entered the running coroutine.
pub fn yield_now() {
    let slot = begin_yield();
    // SAFETY: begin_yield returned the running coroutine's slot, which holds
    // its enterer's context; the next enter switches back here.
    unsafe { switch::switch(slot, ACTION_YIELD) };
    yield_end();
}

/// `qemu_coroutine_yield` without the sanitizers: the checks, then a tail
/// jump into the switch, so the coroutine resumes straight in its C caller.
#[cfg(not(any(feature = "asan", feature = "tsan")))]
#[inline(always)]
pub(crate) fn yield_to_caller() {
    let slot = begin_yield();
    // SAFETY: as in `yield_now`.
    unsafe { switch::switch(slot, ACTION_YIELD) };
}

/// The yield path's first half, for the sanitizer builds' C stub (x86_64
/// only: aarch64 has no sanitizer build): checks, then the slot.
#[cfg(all(target_arch = "x86_64", any(feature = "asan", feature = "tsan")))]
pub(crate) extern "C" fn yield_begin() -> *mut usize {
    begin_yield()
}

/// The yield path's second half, after the coroutine was entered again:
/// only the sanitizers have something to do (the C stub calls it only in
/// sanitizer builds).
#[inline(always)]
pub(crate) extern "C" fn yield_end() {
    // SAFETY: we were entered again, so `current` is this coroutine.
    #[cfg(feature = "asan")]
    unsafe { &*current::get() }.fiber.after_suspend();
}

#[inline(always)]
fn begin_yield() -> *mut usize {
    let t = thread_block::block();
    // SAFETY: `current` is null or the running coroutine, live while it runs.
    let Some(me) = (unsafe { t.current.get().as_ref() }) else {
        yielding_to_no_one()
    };
    let caller = me.caller.get();
    if caller.is_null() {
        yielding_to_no_one();
    }
    t.current.set(caller);
    me.caller.set(ptr::null());
    me.wait.yielded(caller);
    me.fiber.before_suspend(false);
    me.fiber.slot()
}

#[cold]
#[inline(never)]
fn yielding_to_no_one() -> ! {
    die(format_args!("Co-routine is yielding to no one"))
}

/// The running coroutine, for the functions that must be called from one;
/// outside a coroutine, aborts with "FUNC: not in a coroutine".
pub fn running_or_abort(func: &str) -> &'static Coroutine {
    let me = current::running();
    if !me.is_entered() {
        die(format_args!("{func}: not in a coroutine"));
    }
    me
}

/// `qemu_in_coroutine`.
pub fn in_coroutine() -> bool {
    // SAFETY: `current` is null or a live coroutine or leader.
    unsafe { current::peek().as_ref() }.is_some_and(Coroutine::is_entered)
}

/// The body of every fiber: run the entry, report termination, wait to be
/// re-armed by the pool, forever.
#[link_section = ".text.hot.qemucoro"]
unsafe extern "C" fn fiber_main(arg: *mut c_void, _first: usize) -> ! {
    // SAFETY: `arg` is the coroutine this fiber was made for, which outlives
    // its fiber.
    let co = unsafe { &*arg.cast::<Coroutine>() };
    co.fiber.after_suspend();
    loop {
        let Some(entry) = co.entry.get() else {
            die(format_args!("entered a coroutine with no entry"))
        };
        // SAFETY: entry and its argument come from qemu_coroutine_create,
        // whose caller promises that entry(opaque) is valid to call.
        unsafe { entry(co.entry_arg.get()) };
        current::set(co.caller.get());
        // SAFETY: we run on the fiber's stack, entered by `caller`.
        unsafe { co.fiber.suspend(ACTION_TERMINATE, true) };
    }
}

#[cold]
#[inline(never)]
fn terminated_twice() -> ! {
    die(format_args!(
        "qemu_coroutine_enter: Co-routine terminated twice (pooled twice)"
    ))
}
