//! What the library undoes when it is unloaded (dlclose) or the program
//! exits: the SIGSEGV action goes back to the one we replaced (if ours is
//! still installed), so no fault is ever delivered into unmapped code, and
//! the global pool's coroutines and stacks are freed, since nothing could
//! reach them once the library's statics are gone. Threads that used
//! coroutines keep the library loaded until they exit (glibc's rule for
//! thread-exit hooks), so by then their own lists have been handed over.

use super::{overflow, pool};

extern "C" fn on_unload() {
    overflow::restore_previous();
    pool::free_global();
}

#[used]
#[link_section = ".fini_array"]
static ON_UNLOAD: extern "C" fn() = on_unload;
