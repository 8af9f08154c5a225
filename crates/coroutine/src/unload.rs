//! What the library undoes when it is unloaded (dlclose) or the program
//! exits: the SIGSEGV action goes back to the one we replaced (if ours is
//! still installed), so no fault is ever delivered into unmapped code, and
//! the global pool's coroutines and stacks are freed, since nothing could
//! reach them once the library's statics are gone. The thread-exit hooks'
//! pthread keys are deleted, so that a thread still running never calls
//! into the unmapped library when it exits (what such a thread pooled, and
//! its signal stack, stay mapped: it is unreachable either way).

use super::{init, overflow, pool};

extern "C" fn on_unload() {
    overflow::restore_previous();
    init::delete_exit_hook();
    pool::delete_exit_hook();
    pool::free_global();
}

#[used]
#[link_section = ".fini_array"]
static ON_UNLOAD: extern "C" fn() = on_unload;
