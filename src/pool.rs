//! The coroutine pool: terminated coroutines, fiber and stack intact, kept
//! for the next `create`.
//!
//! Each thread keeps a free list of up to `LOCAL_MAX` coroutines; beyond
//! that, batches of `BATCH` go to a global pool that other threads refill
//! from, and only what the global pool cannot take is unmapped. QEMU's
//! per-thread pool holds about 256, so a program with a thousand live
//! coroutines at once maps and unmaps most of them on every round; ours keeps
//! them. The global pool is bounded as QEMU bounds it: by what
//! `qemu_coroutine_inc_pool_size` asked for, and never beyond half of the
//! mappings `/proc/sys/vm/max_map_count` leaves after a reserve (each guarded
//! stack costs two).

use std::cell::RefCell;
use std::sync::{Mutex, OnceLock};

use crate::coroutine::Coroutine;

/// Coroutines a thread keeps for itself.
const LOCAL_MAX: usize = 4096;
/// Coroutines moved to or from the global pool at once.
const BATCH: usize = 128;
/// Mappings left for the rest of the program, as QEMU reserves.
const MAP_RESERVE: usize = 5000;

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

struct Global {
    batches: Vec<Batch>,
    size: usize,
    /// QEMU's `global_pool_max_size`: one batch plus what users asked for.
    max: usize,
}

static GLOBAL: Mutex<Global> = Mutex::new(Global { batches: Vec::new(), size: 0, max: BATCH });

/// Thread-local free list; on thread exit its coroutines go global or die.
struct Local(Vec<*mut Coroutine>);

impl Drop for Local {
    fn drop(&mut self) {
        let all = std::mem::take(&mut self.0);
        for chunk in all.chunks(BATCH) {
            put_global(Batch(chunk.to_vec()));
        }
    }
}

thread_local! {
    static LOCAL: RefCell<Local> = const { RefCell::new(Local(Vec::new())) };
}

/// A pooled coroutine, if there is one here or in the global pool.
// Not inlined: it touches TLS (see current.rs).
#[inline(never)]
pub fn get() -> Option<*mut Coroutine> {
    LOCAL
        .try_with(|l| {
            let mut l = l.borrow_mut();
            if l.0.is_empty() {
                if let Some(batch) = take_global() {
                    l.0 = batch.0;
                }
            }
            l.0.pop()
        })
        .ok()
        .flatten()
}

/// Recycles a terminated coroutine.
#[inline(never)]
pub fn put(co: *mut Coroutine) {
    let kept = LOCAL.try_with(|l| {
        let mut l = l.borrow_mut();
        if l.0.len() >= LOCAL_MAX {
            let at = l.0.len() - BATCH;
            put_global(Batch(l.0.split_off(at)));
        }
        l.0.push(co);
    });
    if kept.is_err() {
        // The thread is exiting and its pool is gone.
        Batch(vec![co]).free_all();
    }
}

fn take_global() -> Option<Batch> {
    let mut g = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    let batch = g.batches.pop()?;
    g.size -= batch.0.len();
    Some(batch)
}

fn put_global(batch: Batch) {
    let rejected = {
        let mut g = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
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

/// `qemu_coroutine_inc_pool_size`.
pub fn inc_max(n: usize) {
    let mut g = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    g.max = g.max.saturating_add(n);
}

/// `qemu_coroutine_dec_pool_size`.
pub fn dec_max(n: usize) {
    let mut g = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
    g.max = g.max.saturating_sub(n);
}

/// The most coroutines the global pool may hold, from the mapping limit.
fn hard_max() -> usize {
    static HARD: OnceLock<usize> = OnceLock::new();
    *HARD.get_or_init(|| {
        let Ok(text) = std::fs::read_to_string("/proc/sys/vm/max_map_count") else {
            return usize::MAX;
        };
        match text.trim().parse::<usize>() {
            Ok(n) => n.saturating_sub(MAP_RESERVE) / 2,
            Err(_) => usize::MAX,
        }
    })
}
