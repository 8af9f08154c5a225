//! The core's trace hooks (coroutine/trace.rs), filled with QEMU's own
//! trace functions: the C glue (qemu/coroutine-qemucoro-full.c) calls
//! util/trace-events' generated ones, and the count of enabled events is
//! QEMU's, so whatever enables an event in QEMU enables ours.

use std::ffi::{c_int, c_void};
use std::sync::atomic::AtomicI32;

use qemucoro_coroutine::trace::{self, Tracer};

type Ptr = *const c_void;

extern "C" {
    /// trace/control.c: nonzero while any trace event is enabled.
    static trace_events_enabled_count: AtomicI32;
    fn qemucoro_qemu_trace_enter(ctx: Ptr, from: Ptr, to: Ptr, opaque: Ptr);
    fn qemucoro_qemu_trace_yield(from: Ptr, to: Ptr);
    fn qemucoro_qemu_trace_terminate(co: Ptr);
    fn qemucoro_qemu_trace_mutex(event: c_int, mutex: Ptr, co: Ptr);
}

static TRACER: Tracer = Tracer {
    // SAFETY: a C `int` QEMU only reads and writes as a whole word.
    enabled: unsafe { &trace_events_enabled_count },
    enter: qemucoro_qemu_trace_enter,
    yield_: qemucoro_qemu_trace_yield,
    terminate: qemucoro_qemu_trace_terminate,
    mutex: qemucoro_qemu_trace_mutex,
};

pub fn register() {
    trace::register(&TRACER);
}
