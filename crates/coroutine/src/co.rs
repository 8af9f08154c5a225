//! The `Coroutine` itself: its fields, the constants its state and a
//! switch's action take, and the small methods that only read or recycle
//! it. What runs a coroutine (create, enter, yield, terminate) is ops.rs.
//!
//! Coroutines are shared with C as raw pointers and may move between threads,
//! so every mutable field is a `Cell` (plain stores, no aliasing `&mut`) and
//! the one field written by other threads, `scheduled`, is atomic. Only the
//! thread currently running or entering a coroutine touches its cells.

use std::cell::Cell;
use std::ffi::{c_char, c_void};
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU8};

use crate::{registry, wait};
use qemucoro_switch::Fiber;
use qemucoro_util::list::{Linked, List};

/// `void coroutine_fn CoroutineEntry(void *opaque)`.
pub type CoroutineEntry = qemucoro_switch::base::Entry;

/// Stands for QEMU's C function type `CoroutineEntry` so that the header
/// declares `CoroutineEntry *entry` as QEMU does; never instantiated.
#[repr(C)]
pub struct CoroutineEntryFn {
    _opaque: [u8; 0],
}

/// What a switch tells the other side (QEMU's `CoroutineAction` values).
pub const ACTION_YIELD: u32 = 1;
pub const ACTION_TERMINATE: u32 = 2;
pub const ACTION_ENTER: u32 = 3;

/// `Coroutine::state`: pooled (or a leader) until created, then live until
/// it terminates. Read by the statistics and the gdb script.
pub const STATE_POOLED: u8 = 0;
pub const STATE_LIVE: u8 = 1;

/// The list coroutines queue on (wake-ups, CoQueue, CoMutex's waiters).
pub type CoList = List<Coroutine>;

/// A coroutine, or a thread's leader (which has no fiber).
///
/// The fields up to `scheduled_next` are laid out as QEMU's `struct
/// Coroutine` (qemu/coroutine_int.h), because QEMU's util/async.c reads and
/// writes them when a QEMU build runs on this core: `ctx`, `scheduled`,
/// `scheduled_next`, and the wake-up queue through `queue_next`. The
/// offsets are checked below and, against QEMU's own header, by the C file
/// QEMU compiles with it (qemu/coroutine-qemucoro.c).
#[repr(C)]
pub struct Coroutine {
    pub entry: Cell<Option<CoroutineEntry>>,
    pub entry_arg: Cell<*mut c_void>,
    /// Who entered us last; null while not entered.
    pub caller: Cell<*const Coroutine>,
    /// Link for the pool's free lists (pool.rs).
    pub pool_next: Cell<*const Coroutine>,
    pub locks_held: Cell<usize>,
    /// The AioContext the coroutine was last entered in (opaque here).
    /// Atomic because wakers on other threads read it.
    pub ctx: AtomicPtr<c_void>,
    /// Name of the function that scheduled us, while scheduled.
    pub scheduled: AtomicPtr<c_char>,
    /// Link for whichever `CoList` the coroutine is on.
    pub queue_next: Cell<*const Coroutine>,
    /// Coroutines to run after this one next yields or terminates.
    pub wakeup: CoList,
    /// Link for an event loop's list of scheduled coroutines.
    pub scheduled_next: AtomicPtr<Coroutine>,
    /// The stack, its check and the switch's slot; stackless for a leader.
    pub fiber: Fiber,
    /// `STATE_*`; atomic only so that statistics may read it from any
    /// thread (relaxed: a plain store on the create/terminate paths).
    pub state: AtomicU8,
    /// Place in the registry of stacks (see registry.rs).
    pub registry: registry::Link,
    /// Whether the stack holds no pages below its top page (given back
    /// since it last ran): the pool's record, see pool.rs.
    pub stack_clean: Cell<bool>,
    /// What the coroutine waits for while suspended (wait.rs).
    pub wait: wait::Wait,
}

// QEMU's `struct Coroutine` is the head of ours (see the struct).
qemucoro_util::assert_qemu_coroutine_layout!(Coroutine {
    entry,
    entry_arg,
    caller,
    pool_next,
    locks_held,
    ctx,
    scheduled,
    queue_next,
    wakeup,
    scheduled_next
});
const _: () = assert!(
    std::mem::offset_of!(Coroutine, fiber)
        >= qemucoro_util::qemu_layout::QEMU_COROUTINE_WORDS * std::mem::size_of::<usize>()
);

/// What `caller` holds while a coroutine is pooled: not null, so the enter
/// path's existing "already entered?" test catches a stale `Coroutine *`
/// at no extra cost, and the cold path tells the two cases apart.
static POOLED_MARK: u8 = 0;

pub fn pooled_mark() -> *const Coroutine {
    ptr::addr_of!(POOLED_MARK).cast()
}

impl Linked for Coroutine {
    fn next(&self) -> &Cell<*const Coroutine> {
        &self.queue_next
    }
}

impl Coroutine {
    /// A coroutine with no stack and no entry: as is, a thread's leader
    /// (never entered, never yields); ops.rs's `new_boxed` gives it a fiber.
    pub const fn blank() -> Coroutine {
        Coroutine {
            entry: Cell::new(None),
            entry_arg: Cell::new(ptr::null_mut()),
            caller: Cell::new(ptr::null()),
            pool_next: Cell::new(ptr::null()),
            locks_held: Cell::new(0),
            ctx: AtomicPtr::new(ptr::null_mut()),
            scheduled: AtomicPtr::new(ptr::null_mut()),
            queue_next: Cell::new(ptr::null()),
            wakeup: CoList::new(),
            scheduled_next: AtomicPtr::new(ptr::null_mut()),
            fiber: Fiber::empty(),
            state: AtomicU8::new(STATE_POOLED),
            registry: registry::Link::new(),
            stack_clean: Cell::new(false),
            wait: wait::Wait::new(),
        }
    }

    /// Where `fiber` lies, for the gdb script's layout table.
    pub const FIBER_OFFSET: usize = std::mem::offset_of!(Coroutine, fiber);

    /// Frees a coroutine that is not running, queued or scheduled.
    ///
    /// # Safety
    /// `co` came from `new_boxed` and no pointer to it is used afterwards.
    pub unsafe fn free(co: *mut Coroutine) {
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
    pub fn discard_cold_stack(&self) {
        if self.stack_clean.replace(true) {
            return;
        }
        if let Some((bottom, size)) = self.stack_bounds() {
            qemucoro_switch::stack::discard_cold_pages(bottom, size);
        }
    }
}
