//! The coroutine: create, enter, yield, terminate (the home of QEMU's
//! `qemu-coroutine.c` semantics).
//!
//! A coroutine runs on its own fiber. `enter` resumes the fiber with the
//! enterer recorded as `caller`; `yield` clears `caller` and suspends back to
//! it. When the entry function returns, the trampoline suspends one last time
//! with TERMINATE and the enterer recycles the coroutine into the pool,
//! fiber and stack intact, ready for the next `create`.
//!
//! Coroutines are shared with C as raw pointers and may move between threads,
//! so every mutable field is a `Cell` (plain stores, no aliasing `&mut`) and
//! the one field written by other threads, `scheduled`, is atomic. Only the
//! thread currently running or entering a coroutine touches its cells.

pub(crate) mod current;
pub(crate) mod event_loop;
mod fork;
pub(crate) mod overflow;
pub(crate) mod pool;
pub(crate) mod registry;
pub(crate) mod stats;
mod unload;

use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8, Ordering};

use crate::util::abort::die;
use crate::switch::stack::{Canary, Stack, DEFAULT_STACK_SIZE};
use crate::switch::{Fiber, Suspender};
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
    fiber: Cell<*mut Fiber>,
    suspender: Cell<*const Suspender>,
    /// A slab stack's overflow canary; None for guarded stacks.
    canary: Cell<Option<Canary>>,
    /// `STATE_*`; atomic only so that statistics may read it from any
    /// thread (relaxed: a plain store on the create/terminate paths).
    pub(crate) state: AtomicU8,
    /// Place in the registry of stacks (see registry.rs).
    pub(crate) registry: registry::Link,
    /// Whether the stack holds no pages below its top page (given back
    /// since it last ran): the pool's record, see pool.rs.
    pub(crate) stack_clean: Cell<bool>,
    /// The usable stack (lowest address, size); 0 for a leader. A copy of
    /// the fiber's, kept here so that readers on other threads (statistics,
    /// the SIGSEGV handler) never make a `&Fiber` while `resume` holds the
    /// fiber as `&mut`.
    stack_bottom: usize,
    stack_size: usize,
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
            fiber: Cell::new(ptr::null_mut()),
            suspender: Cell::new(ptr::null()),
            canary: Cell::new(None),
            state: AtomicU8::new(STATE_POOLED),
            registry: registry::Link::new(),
            stack_clean: Cell::new(false),
            stack_bottom: 0,
            stack_size: 0,
        }
    }

    /// Where `fiber` lies, for the gdb script's layout table.
    pub(crate) const FIBER_OFFSET: usize = std::mem::offset_of!(Coroutine, fiber);

    /// A new coroutine with its own stack, parked before its first entry.
    pub(crate) fn new_boxed(stack_size: usize) -> *mut Coroutine {
        let stack = Stack::new(stack_size);
        let (stack_bottom, stack_size) = (stack.bottom() as usize, stack.size());
        let co = Box::into_raw(Box::new(Coroutine { stack_bottom, stack_size, ..Coroutine::blank() }));
        let canary = stack.arm_canary();
        let fiber = Fiber::new(stack, trampoline, co.cast());
        // SAFETY: `co` was just allocated above and is not shared yet.
        let c = unsafe { &*co };
        c.fiber.set(Box::into_raw(Box::new(fiber)));
        c.canary.set(canary);
        registry::add(c);
        co
    }

    /// Frees a coroutine that is not running, queued or scheduled.
    ///
    /// # Safety
    /// `co` came from `new_boxed` and no pointer to it is used afterwards.
    pub(crate) unsafe fn free(co: *mut Coroutine) {
        // SAFETY: per the contract, both boxes are ours to drop.
        unsafe {
            registry::remove(&*co);
            drop(Box::from_raw((*co).fiber.get()));
            drop(Box::from_raw(co));
        }
    }

    pub fn is_entered(&self) -> bool {
        !self.caller.get().is_null()
    }

    /// The usable stack as (lowest address, size); None for a leader.
    pub fn stack_bounds(&self) -> Option<(usize, usize)> {
        (self.stack_size != 0).then_some((self.stack_bottom, self.stack_size))
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

    /// Aborts if the coroutine ran past the bottom of an unguarded stack.
    #[inline(always)]
    fn check_canary(&self) {
        if let Some(canary) = self.canary.get() {
            if !canary.intact() {
                self.overflowed();
            }
        }
    }

    #[cold]
    fn overflowed(&self) -> ! {
        crate::coroutine::overflow::report(self, " (an unguarded stack: caught by its canary)")
    }

    #[inline(always)]
    fn resume(&self, action: u32) -> u32 {
        let fiber = self.fiber.get();
        if fiber.is_null() {
            die(format_args!("qemu_coroutine_enter: cannot enter a thread's leader"));
        }
        // SAFETY: only the thread entering the coroutine reaches this, and
        // enter's `caller` check guarantees there is one such thread at a time,
        // so this is the only live reference to the fiber.
        unsafe { (*fiber).resume(action) }
    }
}

/// `qemu_coroutine_create`: a coroutine from the pool, or a new one.
pub fn create(entry: CoroutineEntry, opaque: *mut c_void) -> *mut Coroutine {
    let co = pool::get().unwrap_or_else(|| Coroutine::new_boxed(DEFAULT_STACK_SIZE));
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
#[inline(always)]
pub fn enter(ctx: *mut c_void, co: &Coroutine) {
    let action = switch_in(ctx, co);
    if co.wakeup.is_empty() {
        if action == ACTION_TERMINATE {
            terminated(co);
        }
        return;
    }
    run_woken(ctx, co, action);
}

/// The rest of an enter whose coroutine woke others: QEMU's order, the
/// most recently woken first, each one's own wake-ups before its elders'.
#[inline(never)]
fn run_woken(ctx: *mut c_void, first: &Coroutine, action: u32) {
    let pending = CoList::new();
    pending.prepend(&first.wakeup);
    if action == ACTION_TERMINATE {
        terminated(first);
    }
    while let Some(to) = pending.pop_front() {
        let action = switch_in(ctx, to);
        pending.prepend(&to.wakeup);
        if action == ACTION_TERMINATE {
            terminated(to);
        }
    }
}

/// Enters `to` from the running coroutine (or leader) and returns how it
/// came back: ACTION_YIELD or ACTION_TERMINATE.
#[inline(always)]
fn switch_in(ctx: *mut c_void, to: &Coroutine) -> u32 {
    let (from, thread_ctx) = current::enter_switch(to);
    check_enterable(to);
    to.caller.set(from);
    let ctx = if ctx.is_null() { thread_ctx } else { ctx };
    // Release: a waker that reads ctx also sees what we stored before.
    to.ctx.store(ctx, Ordering::Release);
    if let Some(canary) = to.canary.get() {
        canary.prefetch(); // read after the switch back (stack.rs says why)
    }
    // The coroutine sets `current` back to `from` before it switches back.
    let action = to.resume(ACTION_ENTER);
    to.check_canary();
    action
}

fn check_enterable(to: &Coroutine) {
    let scheduled = to.scheduled.load(Ordering::Acquire);
    if !scheduled.is_null() {
        // SAFETY: `scheduled` only ever holds NUL-terminated static names.
        let name = unsafe { std::ffi::CStr::from_ptr(scheduled) };
        die(format_args!(
            "qemu_aio_coroutine_enter: Co-routine was already scheduled in '{}'",
            name.to_string_lossy()
        ));
    }
    if to.is_entered() {
        not_enterable(to);
    }
}

#[cold]
fn not_enterable(to: &Coroutine) -> ! {
    if to.is_pooled() {
        die_stale("qemu_coroutine_enter");
    }
    die(format_args!("Co-routine re-entered recursively"))
}

/// Aborts because `func` was given a coroutine that had terminated.
#[cold]
pub(crate) fn die_stale(func: &str) -> ! {
    die(format_args!("{func}: Co-routine used after it terminated (its Coroutine * is stale)"))
}

fn terminated(co: &Coroutine) {
    let held = co.locks_held.get();
    if held != 0 {
        die(format_args!("Co-routine terminated while holding {held} lock(s)"));
    }
    if co.state.load(Ordering::Relaxed) != STATE_LIVE {
        die(format_args!("qemu_coroutine_enter: Co-routine terminated twice (pooled twice)"));
    }
    co.caller.set(pooled_mark());
    co.state.store(STATE_POOLED, Ordering::Relaxed);
    pool::put(ptr::from_ref(co).cast_mut());
}

/// `aio_co_wake` for the layers below the event loop (the locks): re-enters
/// `co` in the context it last ran in, through the event loop's hook.
pub fn wake(co: &Coroutine) {
    event_loop::wake(co);
}

/// `qemu_coroutine_yield`: back to whoever entered the running coroutine.
#[inline(always)]
pub fn yield_now() {
    // SAFETY: yield_switch returns null or the running coroutine, which is
    // live while it runs.
    let Some(me) = (unsafe { current::yield_switch().as_ref() }) else {
        die(format_args!("Co-routine is yielding to no one"));
    };
    me.caller.set(ptr::null());
    // SAFETY: `me` had a caller, so it is a real coroutine that has started
    // and recorded its suspender, which lives on its own stack.
    let s = unsafe { &*me.suspender.get() };
    s.suspend(ACTION_YIELD);
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
    // SAFETY: as in yield_now.
    unsafe { &*current::get() }.is_entered()
}

/// The body of every fiber: run the entry, report termination, wait to be
/// re-armed by the pool, forever.
unsafe fn trampoline(arg: *mut c_void, s: &Suspender, _first: u32) -> ! {
    // SAFETY: `arg` is the coroutine this fiber was made for, which outlives
    // its fiber.
    let co = unsafe { &*arg.cast::<Coroutine>() };
    co.suspender.set(s);
    loop {
        let entry = co.entry.get().expect("create sets entry before enter");
        // SAFETY: entry and its argument come from qemu_coroutine_create,
        // whose caller promises that entry(opaque) is valid to call.
        unsafe { entry(co.entry_arg.get()) };
        current::set(co.caller.get());
        s.suspend(ACTION_TERMINATE);
    }
}
