//! The coroutine pool: terminated coroutines, fiber and stack intact, kept
//! for the next `create`.
//!
//! Each thread keeps a free list of up to `LOCAL_MAX` coroutines, linked
//! through the coroutines themselves so that get and put are a few loads and
//! stores. Beyond that, batches of `BATCH` go to a global pool that other
//! threads refill from, and only what the global pool cannot take is
//! unmapped. QEMU's per-thread pool holds about 256, so a program with a
//! thousand live coroutines at once maps and unmaps most of them on every
//! round; ours keeps them. The global pool is bounded as QEMU bounds it: by
//! what `qemu_coroutine_inc_pool_size` asked for, and never beyond half of
//! the mappings `/proc/sys/vm/max_map_count` leaves after a reserve.

use std::ffi::c_void;
use std::ptr;

use crate::thread_block::{block, ThreadBlock};
use crate::Coroutine;
use qemucoro_util::map_count;
use qemucoro_util::mutex::Mutex;
use qemucoro_util::thread_exit::ExitKey;

/// Coroutines a thread keeps for itself.
const LOCAL_MAX: usize = 4096;
/// From this many pooled coroutines on, a thread's pool gives back the
/// stack pages below each top page (so that a burst of deep coroutines
/// does not pin its memory), but for its `LOCAL_HOT` most recent ones.
/// Below it nothing is given back: a thousand nested coroutines that end
/// and are created again every round pay no system call.
const DISCARD_FROM: usize = 1024;
const LOCAL_HOT: usize = 16;
/// Coroutines moved to or from the global pool at once.
const BATCH: usize = 128;
/// `pool_len` once the thread's exit hook has handed its list over: puts
/// and refills then take their cold paths, which go to the global pool.
const CLOSED: usize = usize::MAX;

/// A list of pooled coroutines, owned by whoever holds it.
struct Batch(Vec<*mut Coroutine>);

// SAFETY: pooled coroutines are not running and nothing else points to them;
// the batch is their only owner, so it may move between threads.
unsafe impl Send for Batch {}

impl Batch {
    fn free_all(self) {
        for co in self.0 {
            // SAFETY: a pooled coroutine is owned by its batch alone.
            unsafe { Coroutine::free(co) };
        }
    }
}

pub struct Global {
    batches: Vec<Batch>,
    size: usize,
    /// QEMU's `global_pool_max_size`: one batch plus what users asked for.
    max: usize,
}

static GLOBAL: Mutex<Global> = Mutex::new(Global {
    batches: Vec::new(),
    size: 0,
    max: BATCH,
});

/// This thread's free list lives in the thread block (thread_block.rs), linked
/// through `Coroutine::pool_next` (free coroutines are on no other list):
/// `pool_head`, `pool_len`, and `pool_armed` (whether `EXIT` is armed for
/// this thread: once is enough). `EXIT` empties it when the thread ends.
type Local = ThreadBlock;

/// Hands the thread's free list to the global pool when the thread exits.
/// A pthread key, not a `thread_local!` destructor: a thread whose first
/// put comes in a key destructor gets its list handed over too.
static EXIT: ExitKey = ExitKey::new(hand_over_at_exit);

/// # Safety
/// Called by glibc only, on the exiting thread, outside any coroutine.
unsafe extern "C" fn hand_over_at_exit(_: *mut c_void) {
    // Later thread-exit code (other key destructors) may still create and
    // finish coroutines: CLOSED sends those straight to the global pool.
    let l = block();
    let all = take_all(l);
    l.pool_len.set(CLOSED);
    for chunk in all.chunks(BATCH) {
        put_global(Batch(chunk.to_vec()));
    }
}

/// Deletes the exit hook's key when the library is unloaded.
pub fn delete_exit_hook() {
    EXIT.delete();
}

/// A pooled coroutine, if there is one here or in the global pool.
#[inline(always)]
pub fn get() -> Option<*mut Coroutine> {
    let l = block();
    let co = l.pool_head.get();
    if co.is_null() {
        return refill(l);
    }
    // SAFETY: the free list holds only live, pooled coroutines.
    l.pool_head.set(unsafe { (*co).pool_next.get() });
    l.pool_len.set(l.pool_len.get() - 1);
    // SAFETY: as above; it is about to run and touch its stack.
    unsafe { (*co).stack_clean.set(false) };
    Some(co.cast_mut())
}

/// Recycles a terminated coroutine.
#[inline(always)]
pub(crate) fn put(co: *mut Coroutine) {
    let l = block();
    arm_exit_hook(l);
    if l.pool_len.get() >= LOCAL_MAX && !spill(l, co) {
        return;
    }
    if l.pool_len.get() >= DISCARD_FROM {
        discard_below_hot(l);
    }
    // SAFETY: a terminated coroutine is ours and on no list.
    unsafe { (*co).pool_next.set(l.pool_head.get()) };
    l.pool_head.set(co);
    l.pool_len.set(l.pool_len.get() + 1);
}

/// Gives back the cold stack pages of the pooled coroutines below the
/// `LOCAL_HOT` most recent. Gets and puts work at the head and this walk
/// cleans downwards, so the clean ones are the bottom of the list: the walk
/// stops at the first, and while the pool stays big each put costs one
/// give-back, of the coroutine that just left the hot ones. (A batch
/// refilled from the global pool may mix them; then some stacks stay
/// dirty until they run again, which costs memory, not correctness.)
#[cold]
fn discard_below_hot(l: &Local) {
    let mut co = l.pool_head.get();
    for _ in 0..LOCAL_HOT {
        // SAFETY: the free list holds only live, pooled coroutines.
        co = unsafe { (*co).pool_next.get() };
    }
    // SAFETY: as above; a pooled coroutine is not running.
    while let Some(c) = unsafe { co.as_ref() } {
        if c.stack_clean.get() {
            break;
        }
        c.discard_cold_stack();
        co = c.pool_next.get();
    }
}

/// Makes sure this thread's free list is handed over when the thread exits:
/// registers `EXIT` the first time the list gets anything.
#[inline(always)]
fn arm_exit_hook(l: &Local) {
    if !l.pool_armed.get() {
        arm_exit_hook_cold(l);
    }
}

#[cold]
#[inline(never)]
fn arm_exit_hook_cold(l: &Local) {
    l.pool_armed.set(true);
    EXIT.set(ptr::NonNull::<c_void>::dangling().as_ptr());
}

/// Takes a coroutine from a global batch and keeps the rest of the batch
/// in the empty local list (or, once the list is closed, gives the rest
/// back to the global pool).
#[cold]
#[inline(never)]
fn refill(l: &Local) -> Option<*mut Coroutine> {
    let mut batch = take_global()?;
    let co = batch.0.remove(0);
    // SAFETY: the batch owned it; it is about to run and touch its stack.
    unsafe { (*co).stack_clean.set(false) };
    if l.pool_len.get() == CLOSED {
        if !batch.0.is_empty() {
            put_global(batch);
        }
        return Some(co);
    }
    arm_exit_hook(l);
    // Batches list the most recently freed first; keep that order on top.
    for c in batch.0.into_iter().rev() {
        // SAFETY: the batch owned these pooled coroutines; now the list does.
        unsafe { (*c).pool_next.set(l.pool_head.get()) };
        l.pool_head.set(c);
        l.pool_len.set(l.pool_len.get() + 1);
    }
    Some(co)
}

/// Moves one batch from the full local list to the global pool and returns
/// true; or, once the thread's list is closed, hands `co` to the global
/// pool and returns false.
#[cold]
#[inline(never)]
fn spill(l: &Local, co: *mut Coroutine) -> bool {
    if l.pool_len.get() == CLOSED {
        put_global(Batch(vec![co]));
        return false;
    }
    let mut batch = Vec::with_capacity(BATCH);
    while batch.len() < BATCH {
        let co = l.pool_head.get();
        // SAFETY: the list has LOCAL_MAX > BATCH live, pooled coroutines.
        l.pool_head.set(unsafe { (*co).pool_next.get() });
        batch.push(co.cast_mut());
    }
    l.pool_len.set(l.pool_len.get() - BATCH);
    put_global(Batch(batch));
    true
}

/// Empties the local list. The walk is bounded by the list's count: a
/// list that does not end there (a cycle from pooling a coroutine twice)
/// aborts rather than looping forever.
fn take_all(l: &Local) -> Vec<*mut Coroutine> {
    let len = l.pool_len.get();
    let mut all = Vec::with_capacity(len);
    for _ in 0..len {
        let co = l.pool_head.get().cast_mut();
        if co.is_null() {
            break;
        }
        // SAFETY: the free list holds only live, pooled coroutines.
        l.pool_head.set(unsafe { (*co).pool_next.get() });
        all.push(co);
    }
    if all.len() != len || !l.pool_head.get().is_null() {
        qemucoro_util::abort::die(format_args!(
            "qemucoro: a thread's coroutine pool is corrupt (a coroutine pooled twice?)"
        ));
    }
    l.pool_len.set(0);
    all
}

fn take_global() -> Option<Batch> {
    let mut g = GLOBAL.lock();
    let batch = g.batches.pop()?;
    g.size -= batch.0.len();
    Some(batch)
}

fn put_global(batch: Batch) {
    let rejected = {
        let mut g = GLOBAL.lock();
        if g.size < g.max.min(hard_max()) {
            g.size += batch.0.len();
            g.batches.push(batch);
            None
        } else {
            Some(batch)
        }
    };
    // Unmap outside the lock.
    if let Some(batch) = rejected {
        batch.free_all();
    }
}

/// The global pool's lock, held across a fork (fork.rs).
pub type ForkGuard = qemucoro_util::mutex::MutexGuard<'static, Global>;

pub fn lock_for_fork() -> ForkGuard {
    GLOBAL.lock()
}

/// Computes what is computed once, so a fork never copies it half made.
pub fn force_lazy_values() {
    hard_max();
}

/// Frees every coroutine in the global pool (the library is being
/// unloaded: nothing could reach them afterwards).
pub fn free_global() {
    let batches = {
        let mut g = GLOBAL.lock();
        g.size = 0;
        std::mem::take(&mut g.batches)
    };
    for batch in batches {
        batch.free_all();
    }
}

/// `qemu_coroutine_inc_pool_size`.
pub fn inc_max(n: usize) {
    let mut g = GLOBAL.lock();
    g.max = g.max.saturating_add(n);
}

/// `qemu_coroutine_dec_pool_size`.
pub fn dec_max(n: usize) {
    let mut g = GLOBAL.lock();
    g.max = g.max.saturating_sub(n);
}

/// The most coroutines the global pool may hold, from the mapping limit.
fn hard_max() -> usize {
    map_count::spare_mappings() / 2
}
