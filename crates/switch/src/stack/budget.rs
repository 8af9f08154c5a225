//! How many guarded stacks may be live: each costs two kernel mappings, and
//! Linux allows `vm.max_map_count` (65530 by default) per process, counting
//! the program's own. The budget is the smaller of `GUARDED_CAP` and a
//! quarter of what the process has left after a reserve, from a count of
//! its own mappings taken at the first guarded stack and again whenever
//! half of a budget limited by that count is used up (a program may map
//! more in the meantime). `QEMUCORO_GUARDED_STACKS` overrides all of it.

use qemucoro_util::map_count::{own_mappings, spare_mappings};
use qemucoro_util::mutex::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Stacks of their own mapping at most, whatever the limit: 2 mappings
/// each, so that with a million live coroutines (the rest in about a
/// thousand slabs) the process holds under 20,000 mappings. Every other
/// stack is guarded too (slab.rs), so more would buy little.
const GUARDED_CAP: usize = 8192;
/// Below this much allowance left, stop recounting (it reads /proc).
const RECOUNT_MIN: usize = 64;

static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Live guarded stacks allowed; until the first count, 0 with RECOUNT_AT 0.
static MAX: AtomicUsize = AtomicUsize::new(0);
/// At this many live guarded stacks, count the process's mappings again.
static RECOUNT_AT: AtomicUsize = AtomicUsize::new(0);
static RECOUNT: Mutex<()> = Mutex::new(());

/// The recount's lock, held across a fork.
pub(super) type ForkGuard = qemucoro_util::mutex::MutexGuard<'static, ()>;

pub(super) fn lock_for_fork() -> ForkGuard {
    RECOUNT.lock()
}

/// Counts one more guarded stack if the budget allows it.
pub fn take() -> bool {
    if LIVE.load(Ordering::Relaxed) >= RECOUNT_AT.load(Ordering::Relaxed) {
        recount();
    }
    let max = MAX.load(Ordering::Relaxed);
    LIVE.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
        (n < max).then_some(n + 1)
    })
    .is_ok()
}

/// A guarded stack was unmapped.
pub fn give_back() {
    LIVE.fetch_sub(1, Ordering::Relaxed);
}

/// No more guarded stacks from now on (the kernel refused one).
pub fn exhausted() {
    MAX.store(0, Ordering::Relaxed);
    RECOUNT_AT.store(usize::MAX, Ordering::Relaxed);
}

#[cold]
fn recount() {
    let _g = RECOUNT.lock();
    let live = LIVE.load(Ordering::Relaxed);
    if live < RECOUNT_AT.load(Ordering::Relaxed) {
        return; // another thread just did it
    }
    if let Some(n) = std::env::var("QEMUCORO_GUARDED_STACKS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        MAX.store(n, Ordering::Relaxed);
        RECOUNT_AT.store(usize::MAX, Ordering::Relaxed);
        return;
    }
    let left = spare_mappings().saturating_sub(own_mappings());
    let allowance = left / 4;
    let max = GUARDED_CAP.min(live + allowance);
    let recount_at = if max == GUARDED_CAP || max - live < RECOUNT_MIN {
        usize::MAX
    } else {
        live + (max - live) / 2
    };
    MAX.store(max, Ordering::Relaxed);
    RECOUNT_AT.store(recount_at, Ordering::Relaxed);
}
