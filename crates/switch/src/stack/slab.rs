//! Slab stacks: carved side by side from big mappings, so that a million
//! live coroutines need a thousand or so kernel mappings and creating one
//! costs no system call.
//!
//! A slot is a guard band, the usable stack and one page more (`stride`);
//! the band of each slot lies right above the top of the slot below:
//!
//! ```text
//!   | page | band 0 | stack 0 ... top 0 | band 1 | stack 1 ... top 1 | ...
//!     ^ PROT_NONE in a Checked slab (a userfaultfd slab guards it as a band)
//! ```
//!
//! A slab's bands are write-protected with userfaultfd (uffd.rs) when the
//! kernel allows it: the whole slab stays one mapping. Otherwise its stacks
//! are `Checked` (stack.rs) and only the slab's lowest page is PROT_NONE,
//! which stops a runaway recursion at the bottom of the slab (the fault
//! handler then knows it by the stack pointer).
//!
//! Slabs grow: the first holds `FIRST_SLOTS` slots, each next one twice as
//! many, up to `MAX_SLOTS` (about 1 GiB of address space at 1 MiB stacks,
//! `MAP_NORESERVE`, so untouched pages cost nothing). When the kernel
//! refuses one (RLIMIT_AS, address space), smaller ones are tried, down to
//! a single slot, before giving up.

use super::valgrind::ValgrindStackRegistration;

use super::{die_os, guard_len, page_size, try_map_anonymous, uffd, Protection, Stack};
use qemucoro_util::mutex::Mutex;

const FIRST_SLOTS: usize = 64;
const MAX_SLOTS: usize = 1024;
/// Marks a free slot's address (page aligned) as one of a `Checked` slab.
const CHECKED_TAG: usize = 1;

/// One slab, remembered so that a forked child can guard it again.
struct SlabMap {
    start: usize,
    len: usize,
    stride: usize,
    slots: usize,
    uffd: bool,
}

/// Free slots by usable size: the slots' lowest addresses, tagged. Stacks
/// come in few sizes (QEMU uses one), so a short list searched in order
/// does, and it keeps std's hash map and its random seeding out of the
/// archives QEMU links.
#[derive(Default)]
struct FreeSlots(Vec<(usize, Vec<usize>)>);

impl FreeSlots {
    /// The free slots of `usable`-byte stacks (a new, empty list at first).
    fn of(&mut self, usable: usize) -> &mut Vec<usize> {
        let i = match self.0.iter().position(|(u, _)| *u == usable) {
            Some(i) => i,
            None => {
                self.0.push((usable, Vec::new()));
                self.0.len() - 1
            }
        };
        &mut self.0[i].1
    }
}

pub(super) struct Slabs {
    free: FreeSlots,
    /// Slots in the next slab.
    next_slots: usize,
    maps: Vec<SlabMap>,
}

static SLABS: Mutex<Option<Slabs>> = Mutex::new(None);

/// The slabs' lock, held across a fork.
pub(super) type ForkGuard = qemucoro_util::mutex::MutexGuard<'static, Option<Slabs>>;

pub(super) fn lock_for_fork() -> ForkGuard {
    SLABS.lock()
}

/// A slab stack of `usable` bytes (a whole number of pages) or more.
pub fn take(usable: usize) -> Stack {
    let slot = {
        let mut guard = SLABS.lock();
        let slabs = guard.get_or_insert_with(|| Slabs {
            free: FreeSlots::default(),
            next_slots: FIRST_SLOTS,
            maps: Vec::new(),
        });
        if slabs.free.of(usable).is_empty() {
            // Slabs are few and big: map the next one under the lock.
            new_slab(slabs, usable);
        }
        slabs.free.of(usable).pop().expect("just refilled")
    };
    let protection = if slot & CHECKED_TAG != 0 {
        Protection::Checked
    } else {
        Protection::Uffd
    };
    slot_stack(slot & !CHECKED_TAG, usable, protection)
}

fn slot_stack(start: usize, usable: usize, protection: Protection) -> Stack {
    let guard = guard_len();
    let len = guard + usable + page_size();
    let start = start as *mut u8;
    let _valgrind = ValgrindStackRegistration::new(start.wrapping_add(guard), len - guard);
    Stack {
        start,
        len,
        protection,
        _valgrind,
    }
}

/// Maps a slab of `usable`-byte slots, as many as `next_slots` or fewer
/// if the kernel refuses that many, and lists them as free, lowest last
/// (it is popped first). Aborts if not even one slot can be mapped.
fn new_slab(slabs: &mut Slabs, usable: usize) {
    let page = page_size();
    let stride = guard_len() + usable + page;
    let mut n = slabs.next_slots;
    // the slab's bottom page, then the slots
    let start = loop {
        if let Some(start) = try_map_anonymous(page + n * stride) {
            break start as usize;
        }
        if n == 1 {
            die_os("failed to map a coroutine stack", usable);
        }
        n /= 2;
    };
    slabs.next_slots = (n * 2).min(MAX_SLOTS);
    let mut map = SlabMap {
        start,
        len: page + n * stride,
        stride,
        slots: n,
        uffd: false,
    };
    // SAFETY: the whole mapping made above, used by nothing yet; a stack
    // wants no transparent huge pages (one touched page per coroutine, and
    // a huge page would not keep the bands' protection).
    unsafe { libc::madvise(start as *mut libc::c_void, map.len, libc::MADV_NOHUGEPAGE) };
    map.uffd = guard_bands(&map);
    let tag = if map.uffd {
        0
    } else {
        // SAFETY: the first page lies inside the mapping made above.
        if unsafe { libc::mprotect(start as *mut libc::c_void, page, libc::PROT_NONE) } != 0 {
            die_os("failed to protect a stack slab's bottom page", usable);
        }
        CHECKED_TAG
    };
    let first = start + page;
    let slots = slabs.free.of(usable);
    slots.extend((0..n).rev().map(|i| (first + i * stride) | tag));
    slabs.maps.push(map);
}

/// Write-protects every band of `map` (and its bottom page) with
/// userfaultfd; false if the kernel or the environment refuses.
fn guard_bands(map: &SlabMap) -> bool {
    let page = page_size();
    let bands = (0..map.slots).map(|i| {
        let band = map.start + page + i * map.stride;
        // slot 0's band takes the slab's bottom page with it
        if i == 0 {
            (map.start, page + guard_len())
        } else {
            (band, guard_len())
        }
    });
    uffd::guard(map.start, map.len, bands)
}

/// Returns a slot, dropping the memory its coroutine touched but for the
/// top page, which holds its parked frames (see stack.rs). The band is left
/// alone: MADV_DONTNEED would drop its write protection.
pub fn give_back(start: *mut u8, len: usize, protection: Protection) {
    let page = page_size();
    let bottom = start as usize + guard_len();
    let top_page = start as usize + len - page;
    // SAFETY: [bottom, top_page) is whole pages of this slot alone, unused
    // (its coroutine was reset); MADV_DONTNEED on private anonymous memory
    // just zero-fills it later.
    unsafe {
        libc::madvise(
            bottom as *mut libc::c_void,
            top_page - bottom,
            libc::MADV_DONTNEED,
        )
    };
    let usable = len - guard_len() - page;
    let tag = if protection == Protection::Checked {
        CHECKED_TAG
    } else {
        0
    };
    let mut guard = SLABS.lock();
    let slabs = guard.as_mut().expect("a slab stack came from a slab");
    slabs.free.of(usable).push(start as usize | tag);
}

/// Guards every userfaultfd slab again in a forked child (the child has
/// lost the parent's registration). Takes the lock's guard the fork
/// handlers hold. If the child cannot have userfaultfd, its slabs stay
/// unguarded (docs/stacks.md).
pub(super) fn rearm_in_child(guard: &mut ForkGuard) {
    let Some(slabs) = guard.as_mut() else {
        return;
    };
    if !slabs.maps.iter().any(|m| m.uffd) || !uffd::reopen_in_child() {
        return;
    }
    for map in slabs.maps.iter().filter(|m| m.uffd) {
        guard_bands(map);
    }
}

/// A `Checked` stack laid out as a slab slot, in a mapping of its own,
/// whatever the kernel offers (tests of the check). Never to be dropped:
/// it is in no slab.
#[cfg(test)]
pub(super) fn take_checked_for_test(usable: usize) -> Stack {
    let stride = guard_len() + usable + page_size();
    let start = try_map_anonymous(stride).expect("a test slot") as usize;
    slot_stack(start, usable, Protection::Checked)
}
