//! The thread pool of a context (QEMU's `thread_pool_submit_aio`,
//! `block/thread-pool.h`): functions that would block the loop run on
//! worker threads, and each request's completion callback runs back in the
//! context that submitted it, from a bottom half.
//!
//! Each context gets its pool on first use. Workers are started as
//! requests find none idle, up to the context's maximum (64 unless
//! `aio_context_set_thread_pool_params` says otherwise); a worker idle for
//! 10 s exits unless that would leave fewer than the minimum. A request
//! not yet picked up by a worker can be cancelled: its callback then gets
//! -ECANCELED. One that has started runs to the end.
//!
//! ```text
//!   submitter's thread            worker thread
//!   submit: queue (lock) -------> pop (lock), QUEUED -> ACTIVE
//!                                 ret = func(arg)
//!                                 ACTIVE -> DONE, schedule completion BH
//!   completion BH: each DONE request: cb(opaque, ret), unref
//! ```

use std::cell::Cell;
use std::collections::VecDeque;
use std::ffi::{c_int, c_void};
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::aiocb::{self, AIOCBInfo, BlockAIOCB, BlockCompletionFuncFn};
use super::bh::{self, QEMUBH};
use super::context::AioContext;
use qemucoro_coroutine::{self as coroutine, Coroutine};
use qemucoro_util::abort::die;
use qemucoro_util::mutex::{Condvar, Mutex};
use qemucoro_util::sanitizer;

/// The default maximum number of worker threads of a context's pool.
pub const THREAD_POOL_MAX_THREADS_DEFAULT: c_int = 64;

/// How long a worker waits for work before it may exit.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// `int ThreadPoolFunc(void *opaque)`: runs on a worker thread.
pub type ThreadPoolFunc = unsafe extern "C" fn(opaque: *mut c_void) -> c_int;

/// A request's progress. QUEUED -> ACTIVE (a worker, under the queue's
/// lock) or QUEUED -> DONE (a cancel, under the lock); ACTIVE -> DONE by
/// the worker alone, after it has stored `ret`.
const QUEUED: u8 = 0;
const ACTIVE: u8 = 1;
const DONE: u8 = 2;

/// One request: a `BlockAIOCB` first, so the common code can handle it.
#[repr(C)]
struct Request {
    common: BlockAIOCB,
    pool: *const ThreadPoolAio,
    func: ThreadPoolFunc,
    arg: *mut c_void,
    state: AtomicU8,
    ret: AtomicI32,
}

static REQUEST_INFO: AIOCBInfo = AIOCBInfo {
    cancel_async: Some(cancel_request),
    aiocb_size: size_of::<Request>(),
};

/// A request or bottom half handed between threads (the pool's contract
/// says who may touch it when; see the module's diagram).
#[derive(Clone, Copy, PartialEq)]
struct Shared<T>(*mut T);
// SAFETY: the pointees are made to be shared this way: requests are
// handed over under the queue's lock and through their atomic state,
// bottom halves may be scheduled from any thread.
unsafe impl<T> Send for Shared<T> {}
// SAFETY: as for Send.
unsafe impl<T> Sync for Shared<T> {}

/// What the queue's lock guards.
struct Queue {
    requests: VecDeque<Shared<Request>>,
    cur_threads: c_int,
    idle_threads: c_int,
    min_threads: c_int,
    max_threads: c_int,
}

/// A context's pool: opaque to C.
pub struct ThreadPoolAio {
    completion_bh: Shared<QEMUBH>,
    /// Submitted requests whose callback has not run, oldest first. Only
    /// the context's thread touches it (a lock for Sync, never contended).
    in_flight: Mutex<Vec<Shared<Request>>>,
    queue: Mutex<Queue>,
    request_cond: Condvar,
    worker_stopped: Condvar,
}

/// A context's pool, made on first use, and its size limits.
pub struct PoolSlot {
    pool: AtomicPtr<ThreadPoolAio>,
    min_threads: AtomicI32,
    max_threads: AtomicI32,
}

impl Default for PoolSlot {
    fn default() -> PoolSlot {
        PoolSlot::new()
    }
}

impl PoolSlot {
    pub const fn new() -> PoolSlot {
        PoolSlot {
            pool: AtomicPtr::new(ptr::null_mut()),
            min_threads: AtomicI32::new(0),
            max_threads: AtomicI32::new(THREAD_POOL_MAX_THREADS_DEFAULT),
        }
    }

    /// `aio_get_thread_pool`: the pool, made now if needed. Normally
    /// called on the context's thread; two threads racing to make it keep
    /// the first and drop the other.
    pub fn get(&self, ctx: &AioContext) -> &ThreadPoolAio {
        let mut p = self.pool.load(Ordering::Acquire);
        if p.is_null() {
            let new = ThreadPoolAio::new(ctx).cast_mut();
            match self.pool.compare_exchange(
                ptr::null_mut(),
                new,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    p = new;
                    self.update(ctx);
                }
                Err(winner) => {
                    // SAFETY: made just now and never shared; no worker.
                    let lost = unsafe { Arc::from_raw(new) };
                    bh::delete(lost.completion());
                    p = winner;
                }
            }
        }
        // SAFETY: a pool lives until `shutdown`, when the context goes.
        unsafe { &*p }
    }

    /// `aio_context_set_thread_pool_params`, after its checks.
    pub fn set_params(&self, ctx: &AioContext, min: c_int, max: c_int) {
        self.min_threads.store(min, Ordering::Relaxed);
        self.max_threads.store(max, Ordering::Relaxed);
        if !self.pool.load(Ordering::Acquire).is_null() {
            self.update(ctx);
        }
    }

    /// `thread_pool_update_params`: applies the context's limits.
    pub fn update(&self, ctx: &AioContext) {
        let pool = self.get(ctx);
        let min = self.min_threads.load(Ordering::Relaxed);
        let max = self.max_threads.load(Ordering::Relaxed);
        let mut q = pool.queue.lock();
        q.min_threads = min;
        q.max_threads = max;
        while q.cur_threads < min {
            pool.spawn_worker(&mut q);
        }
        // Workers above the maximum exit when they next look at the queue.
        for _ in max..q.cur_threads {
            pool.request_cond.notify_one();
        }
    }

    /// Stops the workers and frees the pool, when the context goes. No
    /// request may still be in flight (QEMU asserts the same).
    pub fn shutdown(&self) {
        let p = self.pool.swap(ptr::null_mut(), Ordering::AcqRel);
        if p.is_null() {
            return;
        }
        // SAFETY: made by Arc::into_raw in `ThreadPoolAio::new`; the slot's
        // reference, given up here.
        let pool = unsafe { Arc::from_raw(p) };
        if !pool.in_flight.lock().is_empty() {
            die(format_args!(
                "aio_context_unref: thread pool requests still in flight, aborting..."
            ));
        }
        let mut q = pool.queue.lock();
        q.max_threads = 0;
        pool.request_cond.notify_all();
        while q.cur_threads > 0 {
            q = pool.worker_stopped.wait(q, None).0;
        }
        drop(q);
        // SAFETY: ours, and no worker is left to schedule it.
        bh::delete(unsafe { &*pool.completion_bh.0 });
    }
}

impl ThreadPoolAio {
    /// A pool of `ctx` with no worker yet, as a raw Arc (the slot's).
    fn new(ctx: &AioContext) -> *const ThreadPoolAio {
        let pool = Arc::new_cyclic(|me: &std::sync::Weak<ThreadPoolAio>| ThreadPoolAio {
            completion_bh: Shared(bh::new(
                ctx,
                completion_bh,
                me.as_ptr().cast_mut().cast(),
                c"thread_pool_completion_bh".as_ptr(),
            )),
            in_flight: Mutex::new(Vec::new()),
            queue: Mutex::new(Queue {
                requests: VecDeque::new(),
                cur_threads: 0,
                idle_threads: 0,
                min_threads: 0,
                max_threads: 0,
            }),
            request_cond: Condvar::new(),
            worker_stopped: Condvar::new(),
        });
        Arc::into_raw(pool)
    }

    fn completion(&self) -> &QEMUBH {
        // SAFETY: deleted only by `shutdown`, after which nobody uses it.
        unsafe { &*self.completion_bh.0 }
    }

    /// Starts one more worker; the queue's lock is held.
    fn spawn_worker(&self, q: &mut Queue) {
        q.cur_threads += 1;
        // SAFETY: `self` is always inside the Arc made by `new`; the worker
        // takes a reference of its own.
        let me = unsafe {
            Arc::increment_strong_count(self);
            Arc::from_raw(self)
        };
        let spawned = std::thread::Builder::new()
            .name("worker".into())
            .spawn(move || me.worker());
        if let Err(err) = spawned {
            die(format_args!(
                "thread_pool_submit_aio: cannot start a worker: {err}"
            ));
        }
    }

    /// A worker's life: run queued requests until there are more workers
    /// than the maximum, or it has idled long enough to be spared.
    fn worker(&self) {
        let mut q = self.queue.lock();
        while q.cur_threads <= q.max_threads {
            let Some(req) = q.requests.pop_front() else {
                q.idle_threads += 1;
                let (g, timed_out) = self.request_cond.wait(q, Some(IDLE_TIMEOUT));
                q = g;
                q.idle_threads -= 1;
                if timed_out && q.requests.is_empty() && q.cur_threads > q.min_threads {
                    break;
                }
                continue;
            };
            // SAFETY: a queued request is live until its callback has run,
            // which needs DONE, which only this worker can now set.
            let r = unsafe { &*req.0 };
            r.state.store(ACTIVE, Ordering::Relaxed);
            drop(q);
            // SAFETY: the submitter promised func(arg) may run on any thread.
            let ret = unsafe { (r.func)(r.arg) };
            r.ret.store(ret, Ordering::Relaxed);
            // TSan builds: what `func` wrote happens before the callback.
            sanitizer::release(req.0.cast());
            // Publishes `ret`; from here on the request may be freed.
            r.state.store(DONE, Ordering::Release);
            bh::schedule(self.completion());
            q = self.queue.lock();
        }
        q.cur_threads -= 1;
        self.worker_stopped.notify_all();
        // Another worker may have been woken for this one's exit.
        self.request_cond.notify_one();
    }

    /// `thread_pool_submit_aio` in this pool, from its context's thread.
    fn submit(
        &self,
        func: ThreadPoolFunc,
        arg: *mut c_void,
        cb: *mut BlockCompletionFuncFn,
        opaque: *mut c_void,
    ) -> *mut BlockAIOCB {
        let acb = aiocb::get(&REQUEST_INFO, ptr::null_mut(), cb, opaque);
        let req = acb.cast::<Request>();
        // SAFETY: `get` allocated a whole Request (REQUEST_INFO's size) and
        // filled in its head; these are the remaining fields.
        unsafe {
            ptr::addr_of_mut!((*req).pool).write(self);
            ptr::addr_of_mut!((*req).func).write(func);
            ptr::addr_of_mut!((*req).arg).write(arg);
            ptr::addr_of_mut!((*req).state).write(AtomicU8::new(QUEUED));
            ptr::addr_of_mut!((*req).ret).write(AtomicI32::new(0));
        }
        self.in_flight.lock().push(Shared(req));
        let mut q = self.queue.lock();
        if q.idle_threads == 0 && q.cur_threads < q.max_threads {
            self.spawn_worker(&mut q);
        }
        q.requests.push_back(Shared(req));
        drop(q);
        self.request_cond.notify_one();
        acb
    }

    /// Takes the oldest finished request off the in-flight list.
    fn take_done(&self) -> Option<*mut Request> {
        let mut all = self.in_flight.lock();
        let i = all.iter().position(|r| {
            // SAFETY: in-flight requests are live.
            unsafe { &*r.0 }.state.load(Ordering::Acquire) == DONE
        })?;
        let req = all.remove(i).0;
        // Pairs with the `release` of whoever set DONE.
        sanitizer::acquire(req.cast());
        Some(req)
    }
}

/// Runs the callbacks of finished requests, in the pool's context.
unsafe extern "C" fn completion_bh(opaque: *mut c_void) {
    // SAFETY: the bottom half's opaque is its pool, which outlives it.
    let pool = unsafe { &*opaque.cast::<ThreadPoolAio>() };
    while let Some(req) = pool.take_done() {
        // SAFETY: finished but not yet unreferenced, so live.
        let r = unsafe { &*req };
        if let Some(cb) = r.common.callback() {
            // The callback may poll the loop waiting for another finished
            // request: leave the bottom half scheduled for that poll.
            bh::schedule(pool.completion());
            // SAFETY: the submitter promised cb(opaque, ret) is valid.
            unsafe { cb(r.common.opaque, r.ret.load(Ordering::Relaxed)) };
            // This loop goes on anyway; an extra run would find nothing.
            bh::cancel(pool.completion());
        }
        // SAFETY: drops the submission's reference (the request's own).
        unsafe { aiocb::unref(req.cast()) };
    }
}

/// The pool's `cancel_async`: a request no worker has picked up is taken
/// off the queue and completes with -ECANCELED; others are left alone.
unsafe extern "C" fn cancel_request(acb: *mut BlockAIOCB) {
    let req = acb.cast::<Request>();
    // SAFETY: REQUEST_INFO is used for Requests only, and the caller holds
    // a reference, so the request is live.
    let r = unsafe { &*req };
    // SAFETY: a pool outlives its requests.
    let pool = unsafe { &*r.pool };
    let mut q = pool.queue.lock();
    if r.state.load(Ordering::Relaxed) != QUEUED {
        return;
    }
    q.requests.retain(|x| x.0 != req);
    r.ret.store(-libc::ECANCELED, Ordering::Relaxed);
    sanitizer::release(req.cast());
    r.state.store(DONE, Ordering::Release);
    drop(q);
    bh::schedule(pool.completion());
}

/// `thread_pool_submit_aio`: runs `func(arg)` on a worker of the calling
/// thread's context, then `cb(opaque, ret)` (if `cb` is not NULL) in that
/// context with what `func` returned.
pub fn submit_aio(
    ctx: &AioContext,
    func: ThreadPoolFunc,
    arg: *mut c_void,
    cb: *mut BlockCompletionFuncFn,
    opaque: *mut c_void,
) -> *mut BlockAIOCB {
    ctx.thread_pool.get(ctx).submit(func, arg, cb, opaque)
}

/// What `thread_pool_submit_co`'s callback needs: on the coroutine's stack.
struct CoWait<'a> {
    co: &'a Coroutine,
    ret: Cell<c_int>,
}

unsafe extern "C" fn co_done(opaque: *mut c_void, ret: c_int) {
    // SAFETY: `submit_co` keeps its CoWait until this has woken it.
    let w = unsafe { &*opaque.cast::<CoWait>() };
    w.ret.set(ret);
    super::wake(w.co);
}

/// `thread_pool_submit_co`: runs `func(arg)` on a worker while the calling
/// coroutine sleeps; returns what `func` returned.
pub fn submit_co(ctx: &AioContext, func: ThreadPoolFunc, arg: *mut c_void) -> c_int {
    let co = coroutine::running_or_abort("thread_pool_submit_co");
    let w = CoWait {
        co,
        ret: Cell::new(-libc::EINPROGRESS),
    };
    let cb = co_done as aiocb::BlockCompletionFunc as *mut BlockCompletionFuncFn;
    submit_aio(ctx, func, arg, cb, ptr::from_ref(&w).cast_mut().cast());
    coroutine::yield_now();
    w.ret.get()
}

/// `aio_get_thread_pool`.
pub fn pool_of(ctx: &AioContext) -> &ThreadPoolAio {
    ctx.thread_pool.get(ctx)
}

/// `aio_context_set_thread_pool_params`, after its checks.
pub fn set_params(ctx: &AioContext, min: c_int, max: c_int) {
    ctx.thread_pool.set_params(ctx, min, max);
}

/// `thread_pool_update_params`: `pool` must be `ctx`'s.
pub fn update_params(pool: &ThreadPoolAio, ctx: &AioContext) {
    if !ptr::eq(pool, pool_of(ctx)) {
        die(format_args!(
            "thread_pool_update_params: the pool is not ctx's"
        ));
    }
    ctx.thread_pool.update(ctx);
}
