//! The hang dump: every live coroutine with what it waits for, since when
//! and who holds it, then every deadlock cycle among them (the text of
//! `qemucoro_dump`, of the dump signal, and of gdb's `coroutine list` and
//! `coroutine deadlocks`, which print the same lines).
//!
//! It runs while other threads go on: the registry's lock keeps every
//! coroutine allocated during the walk, and each field is read once, as
//! an atomic word, into a snapshot. What a wait record points at (a lock)
//! may be gone by the time we look, so locks are copied out with
//! `process_vm_readv` on ourselves, which fails instead of faulting. The
//! graph and the text are built from the snapshot afterwards.
//!
//! Waits-for edges: a coroutine waiting for a CoMutex points at its holder;
//! one waiting for a CoRwlock at every coroutine recorded as holding it
//! (coroutine/wait.rs keeps a few holds per coroutine). A cycle found by
//! depth-first search is a deadlock; a wait on a lock that no live
//! coroutine holds is reported as an orphan.

use std::collections::HashMap;
use std::ffi::{c_void, CStr};
use std::fmt::Write as _;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use qemucoro_coroutine::registry;
use qemucoro_coroutine::wait::{self, *};
use qemucoro_coroutine::{Coroutine, STATE_LIVE};
use qemucoro_locks::co_mutex::CoMutex;
use qemucoro_locks::co_rwlock::CoRwlock;

/// One coroutine as the walk saw it.
struct Snap {
    co: usize,
    entry: usize,
    /// Entered (running, or waiting for a coroutine it entered).
    entered: bool,
    kind: u8,
    object: usize,
    arg: usize,
    since_ns: u64,
    tid: i32,
    last_caller: usize,
    yield_stamp: u64,
    ctx: usize,
    held: [usize; HELD_SLOTS],
    /// The lock it waits for, as copied out (None: unreadable).
    lock: Option<LockState>,
}

#[derive(Clone, Copy)]
enum LockState {
    Mutex { locked: u32, holder: usize },
    Rwlock { owners: i32 },
}

/// Who holds the lock a coroutine waits for.
enum Holders {
    /// Coroutine indices with their role ("" for a mutex).
    Known(Vec<(usize, &'static str)>),
    None(String),
}

/// Writes the dump to `fd`.
pub fn dump_to_fd(fd: i32) {
    let text = dump_text();
    write_all(fd, text.as_bytes());
}

/// The whole dump as text.
pub fn dump_text() -> String {
    let (snaps, pooled) = walk();
    let now = wait::monotonic_ns();
    let mut names = Names::default();
    let index: HashMap<usize, usize> = snaps.iter().enumerate().map(|(i, s)| (s.co, i)).collect();
    let holders: Vec<Option<Holders>> = snaps
        .iter()
        .map(|s| holders_of(s, &snaps, &index, pooled.as_slice()))
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "qemucoro dump: {} live coroutines, {} pooled",
        snaps.len(),
        pooled.len()
    );
    for (i, s) in snaps.iter().enumerate() {
        let _ = writeln!(
            out,
            "coroutine {:#x} entry {}{}: {}",
            s.co,
            names.get(s.entry),
            place(s),
            describe(s, holders[i].as_ref(), &snaps, &index, &mut names, now)
        );
    }
    let cycles = find_cycles(&snaps, &holders);
    for cycle in &cycles {
        let _ = writeln!(
            out,
            "deadlock: {}",
            cycle_text(cycle, &snaps, &holders, &mut names)
        );
    }
    for (i, h) in holders.iter().enumerate() {
        if let Some(Holders::None(why)) = h {
            let s = &snaps[i];
            let _ = writeln!(
                out,
                "orphan: coroutine {:#x} (entry {}{}) waits for {} held by {}",
                s.co,
                names.get(s.entry),
                thread_part(s),
                lock_name(s),
                why
            );
        }
    }
    if cycles.is_empty() {
        out.push_str("qemucoro dump: no deadlock cycle\n");
    } else {
        let _ = writeln!(out, "qemucoro dump: {} deadlock cycle(s)", cycles.len());
    }
    out
}

/// Snapshots every live coroutine; also returns the pooled ones' addresses.
fn walk() -> (Vec<Snap>, Vec<usize>) {
    let mut snaps = Vec::new();
    let mut pooled = Vec::new();
    registry::for_each(|co| {
        if co.state.load(Ordering::Relaxed) != STATE_LIVE {
            pooled.push(ptr::from_ref(co) as usize);
            return;
        }
        snaps.push(snapshot(co));
    });
    (snaps, pooled)
}

fn snapshot(co: &Coroutine) -> Snap {
    let w = &co.wait;
    // The wait may end while we copy its lock: read the record again after
    // the copy and retry if it changed (a wait that lasts reads stable).
    let (mut kind, mut object, mut lock);
    let mut tries = 0;
    loop {
        let since = w.since_ns.load(Ordering::Acquire);
        kind = w.kind.load(Ordering::Acquire);
        object = w.object.load(Ordering::Relaxed) as usize;
        lock = copy_lock(kind, object);
        let stable = w.kind.load(Ordering::Acquire) == kind
            && w.object.load(Ordering::Relaxed) as usize == object
            && w.since_ns.load(Ordering::Relaxed) == since;
        tries += 1;
        if stable || tries == 3 {
            break;
        }
    }
    Snap {
        co: ptr::from_ref(co) as usize,
        entry: racy_word(co.entry.as_ptr().cast()),
        entered: racy_word(co.caller.as_ptr().cast()) != 0,
        kind,
        object,
        arg: w.arg.load(Ordering::Relaxed),
        since_ns: w.since_ns.load(Ordering::Relaxed),
        tid: w.tid.load(Ordering::Relaxed),
        last_caller: w.last_caller.load(Ordering::Relaxed) as usize,
        yield_stamp: w.yield_stamp.load(Ordering::Relaxed),
        ctx: co.ctx.load(Ordering::Relaxed) as usize,
        held: std::array::from_fn(|i| w.held[i].load(Ordering::Relaxed) as usize),
        lock,
    }
}

/// The lock a `kind` wait on `object` waits for, copied out.
fn copy_lock(kind: u8, object: usize) -> Option<LockState> {
    match kind {
        WAIT_MUTEX => copy_out::<CoMutex>(object).map(|m| {
            let (locked, holder) = m.snapshot();
            LockState::Mutex {
                locked,
                holder: holder as usize,
            }
        }),
        WAIT_RDLOCK | WAIT_WRLOCK => copy_out::<CoRwlock>(object).map(|r| LockState::Rwlock {
            owners: r.owners_snapshot(),
        }),
        _ => None,
    }
}

/// A word-sized plain field (`Cell`) of a coroutine that its own thread may
/// be writing: the dump's snapshot of it.
fn racy_word(p: *const usize) -> usize {
    // SAFETY: `p` points at an aligned word-sized field of a registered
    // coroutine, kept allocated by the registry lock we hold. Its owner
    // writes whole words; a relaxed atomic load sees the old or the new one.
    unsafe { AtomicUsize::from_ptr(p.cast_mut()) }.load(Ordering::Relaxed)
}

/// A copy of the `T` at `addr`, or None if that memory is not mapped.
/// `T` is one of the lock types: plain data, any bytes of which a racing
/// writer leaves are only ever read through relaxed atomic views.
fn copy_out<T>(addr: usize) -> Option<T> {
    if addr == 0 {
        return None;
    }
    let mut buf = MaybeUninit::<T>::zeroed();
    let len = size_of::<T>();
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: addr as *mut c_void,
        iov_len: len,
    };
    // SAFETY: we read our own process into our own buffer of `len` bytes;
    // the kernel checks the source address and fails instead of faulting.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    if n != len as isize {
        return None;
    }
    // SAFETY: all `len` bytes were written, and the lock types are plain
    // data for which any bit pattern is a value (counters and pointers).
    Some(unsafe { buf.assume_init() })
}

fn holders_of(
    s: &Snap,
    snaps: &[Snap],
    index: &HashMap<usize, usize>,
    pooled: &[usize],
) -> Option<Holders> {
    if s.entered {
        return None;
    }
    match (s.kind, s.lock?) {
        (WAIT_MUTEX, LockState::Mutex { locked, holder }) => Some(match index.get(&holder) {
            Some(&h) => Holders::Known(vec![(h, "")]),
            None if holder == 0 && locked == 0 => Holders::None("no one (it is free)".into()),
            None if holder == 0 => Holders::None("no coroutine (being handed over)".into()),
            None if pooled.contains(&holder) => {
                Holders::None(format!("a terminated coroutine {holder:#x}"))
            }
            None => Holders::None(format!("{holder:#x}, thread code (not a coroutine)")),
        }),
        (_, LockState::Rwlock { owners }) => {
            let role = if owners < 0 { "writer" } else { "reader" };
            let known: Vec<_> = snaps
                .iter()
                .enumerate()
                .filter(|(_, h)| h.held.contains(&s.object))
                .map(|(i, _)| (i, role))
                .collect();
            Some(if owners == 0 {
                Holders::None("no one (it is free)".into())
            } else if known.is_empty() {
                Holders::None(format!(
                    "{} not known to be coroutines",
                    holder_count(owners)
                ))
            } else {
                Holders::Known(known)
            })
        }
        _ => None,
    }
}

fn holder_count(owners: i32) -> String {
    if owners < 0 {
        "a writer".into()
    } else {
        format!("{owners} reader(s)")
    }
}

/// " [thread N, ctx 0x..]": where the coroutine waits, as far as known.
fn place(s: &Snap) -> String {
    match (s.kind != WAIT_NONE && !s.entered, s.ctx) {
        (true, 0) => format!(" [thread {}]", s.tid),
        (true, c) => format!(" [thread {}, ctx {c:#x}]", s.tid),
        (false, 0) => String::new(),
        (false, c) => format!(" [ctx {c:#x}]"),
    }
}

fn thread_part(s: &Snap) -> String {
    if s.kind != WAIT_NONE && s.tid != 0 {
        format!(", thread {}", s.tid)
    } else {
        String::new()
    }
}

fn lock_name(s: &Snap) -> String {
    match s.kind {
        WAIT_MUTEX => format!("CoMutex {:#x}", s.object),
        WAIT_RDLOCK => format!("CoRwlock {:#x} (read)", s.object),
        WAIT_WRLOCK => format!("CoRwlock {:#x} (write)", s.object),
        _ => format!("{:#x}", s.object),
    }
}

fn secs(ns: u64) -> String {
    format!(
        "{}.{:03} s",
        ns / 1_000_000_000,
        ns % 1_000_000_000 / 1_000_000
    )
}

fn age(now: u64, since: u64) -> String {
    if since == 0 {
        "? s".into()
    } else {
        secs(now.saturating_sub(since))
    }
}

fn describe(
    s: &Snap,
    holders: Option<&Holders>,
    snaps: &[Snap],
    index: &HashMap<usize, usize>,
    names: &mut Names,
    now: u64,
) -> String {
    if s.entered {
        return "entered (running, or waiting for a coroutine it entered)".into();
    }
    let waited = age(now, s.since_ns);
    match s.kind {
        WAIT_MUTEX | WAIT_RDLOCK | WAIT_WRLOCK => {
            let held = match holders {
                Some(Holders::Known(list)) => list
                    .iter()
                    .map(|&(h, role)| {
                        let sep = if role.is_empty() { "" } else { " " };
                        format!(
                            "{role}{sep}{:#x} (entry {})",
                            snaps[h].co,
                            names.get(snaps[h].entry)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                Some(Holders::None(why)) => why.clone(),
                None => "? (the lock is not readable)".into(),
            };
            format!("waits {waited} for {} held by {held}", lock_name(s))
        }
        WAIT_QUEUE => match s.arg {
            0 => format!("waits {waited} on CoQueue {:#x}", s.object),
            l => format!("waits {waited} on CoQueue {:#x} (lock {l:#x})", s.object),
        },
        WAIT_SLEEP if s.arg == NO_DEADLINE => {
            format!("sleeps {waited} until woken (QemuCoSleep {:#x})", s.object)
        }
        WAIT_SLEEP => {
            let end = s.since_ns.saturating_add(s.arg as u64);
            format!(
                "sleeps {waited}, {} left (QemuCoSleep {:#x})",
                secs(end.saturating_sub(now)),
                s.object
            )
        }
        WAIT_FD_READ | WAIT_FD_WRITE => format!(
            "waits {waited} for fd {} to be {} (AioContext {:#x})",
            s.arg as i32,
            if s.kind == WAIT_FD_READ {
                "readable"
            } else {
                "writable"
            },
            s.object
        ),
        WAIT_SCHEDULED => {
            let since = if s.arg as u8 == WAIT_NONE {
                s.yield_stamp
            } else {
                s.since_ns
            };
            format!(
                "scheduled on AioContext {:#x}, not run yet (waiting {})",
                s.object,
                age(now, since)
            )
        }
        _ => {
            let by = match index.get(&s.last_caller) {
                Some(&c) => format!(
                    "coroutine {:#x} (entry {})",
                    snaps[c].co,
                    names.get(snaps[c].entry)
                ),
                None if s.last_caller == 0 => "no one (never entered)".into(),
                None => format!("{:#x} (thread code)", s.last_caller),
            };
            format!(
                "yielded {} ago, entered last by {by}; no wait recorded (a lost wake-up if no one re-enters it)",
                age(now, s.yield_stamp)
            )
        }
    }
}

/// Every cycle of the waits-for graph that depth-first search meets as a
/// back edge, each once (rotated to start at its lowest index).
fn find_cycles(snaps: &[Snap], holders: &[Option<Holders>]) -> Vec<Vec<usize>> {
    let edges = |i: usize| -> Vec<usize> {
        match &holders[i] {
            Some(Holders::Known(list)) => list.iter().map(|&(h, _)| h).collect(),
            _ => Vec::new(),
        }
    };
    let mut colour = vec![0u8; snaps.len()]; // 0 new, 1 on the path, 2 done
    let mut cycles: Vec<Vec<usize>> = Vec::new();
    for root in 0..snaps.len() {
        if colour[root] != 0 {
            continue;
        }
        let mut path: Vec<(usize, Vec<usize>)> = vec![(root, edges(root))];
        colour[root] = 1;
        while let Some((node, todo)) = path.last_mut() {
            let node = *node;
            let Some(next) = todo.pop() else {
                colour[node] = 2;
                path.pop();
                continue;
            };
            match colour[next] {
                0 => {
                    colour[next] = 1;
                    path.push((next, edges(next)));
                }
                1 => {
                    let start = path.iter().position(|(n, _)| *n == next).unwrap_or(0);
                    let mut cycle: Vec<usize> = path[start..].iter().map(|(n, _)| *n).collect();
                    let low = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
                    cycle.rotate_left(low);
                    if !cycles.contains(&cycle) {
                        cycles.push(cycle);
                    }
                }
                _ => {}
            }
        }
    }
    cycles
}

fn cycle_text(
    cycle: &[usize],
    snaps: &[Snap],
    holders: &[Option<Holders>],
    names: &mut Names,
) -> String {
    let mut parts = Vec::new();
    for (k, &i) in cycle.iter().enumerate() {
        let s = &snaps[i];
        let next = cycle[(k + 1) % cycle.len()];
        let role = match &holders[i] {
            Some(Holders::Known(list)) => list
                .iter()
                .find(|&&(h, _)| h == next)
                .map_or("", |&(_, r)| r),
            _ => "",
        };
        let role = if role.is_empty() {
            String::new()
        } else {
            format!(" ({role})")
        };
        parts.push(format!(
            "coroutine {:#x} (entry {}{}) waits for {} held by {:#x}{role}",
            s.co,
            names.get(s.entry),
            thread_part(s),
            lock_name(s),
            snaps[next].co
        ));
    }
    parts.join("; ")
}

/// Function names by address, looked up once per dump.
#[derive(Default)]
struct Names(HashMap<usize, String>);

impl Names {
    fn get(&mut self, addr: usize) -> String {
        self.0
            .entry(addr)
            .or_insert_with(|| {
                let mut buf = [0u8; 256];
                match qemucoro_util::symbol::name_of(addr, &mut buf) {
                    Some(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
                    None if addr == 0 => "?".into(),
                    None => format!("{addr:#x}"),
                }
            })
            .clone()
    }
}

fn write_all(fd: i32, mut buf: &[u8]) {
    while !buf.is_empty() {
        // SAFETY: writes from our own buffer of that length.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n > 0 {
            buf = &buf[n as usize..];
        } else if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
        {
            continue;
        } else {
            return;
        }
    }
}

/// The signal that prints the dump to stderr (0: none installed).
static SIGNAL_PIPE: AtomicPtr<c_void> = AtomicPtr::new(ptr::null_mut());

/// Installs `sig` as the dump signal. The handler only writes one byte to
/// a pipe (write(2) is async-signal-safe); a thread of ours blocked on the
/// pipe does the dump, which takes a lock and allocates, neither of which
/// a handler may do (the interrupted thread could hold the very lock).
pub fn install_signal(sig: i32) -> std::io::Result<()> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two ends.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let (rd, wr) = (fds[0], fds[1]);
    SIGNAL_PIPE.store(wr as usize as *mut c_void, Ordering::Release);
    std::thread::Builder::new()
        .name("qemucoro-dump".into())
        .spawn(move || dump_thread(rd))?;
    // SAFETY: a zeroed sigaction is valid; we fill in the handler and
    // flags, and install it for a signal number the caller checked.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(i32) as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(sig, &sa, ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

extern "C" fn on_signal(_sig: i32) {
    let fd = SIGNAL_PIPE.load(Ordering::Acquire) as usize as i32;
    // SAFETY: errno is saved and restored around write(2), the handler's
    // only call, so the interrupted code sees its own errno.
    unsafe {
        let errno = *libc::__errno_location();
        libc::write(fd, b"d".as_ptr().cast(), 1);
        *libc::__errno_location() = errno;
    }
}

fn dump_thread(rd: i32) {
    let mut byte = [0u8; 64];
    loop {
        // SAFETY: reads into our own buffer.
        let n = unsafe { libc::read(rd, byte.as_mut_ptr().cast(), byte.len()) };
        if n > 0 {
            // Several signals read at once: one dump per signal.
            for _ in 0..n {
                dump_to_fd(2);
            }
        } else if n == 0
            || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
        {
            return;
        }
    }
}

/// Parses `QEMUCORO_DUMP_SIGNAL`: a number, or a name with or without
/// "SIG" (USR1, USR2, QUIT, HUP, WINCH, PWR, URG, RTMIN+n).
pub fn parse_signal(value: &CStr) -> Option<i32> {
    let v = value.to_str().ok()?.trim();
    if let Ok(n) = v.parse::<i32>() {
        return (1..=libc::SIGRTMAX()).contains(&n).then_some(n);
    }
    let name = v.strip_prefix("SIG").unwrap_or(v);
    if let Some(off) = name.strip_prefix("RTMIN+") {
        let n = libc::SIGRTMIN() + off.parse::<i32>().ok()?;
        return (n <= libc::SIGRTMAX()).then_some(n);
    }
    Some(match name {
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "QUIT" => libc::SIGQUIT,
        "HUP" => libc::SIGHUP,
        "WINCH" => libc::SIGWINCH,
        "PWR" => libc::SIGPWR,
        "URG" => libc::SIGURG,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snaps(n: usize) -> Vec<Snap> {
        (0..n)
            .map(|i| Snap {
                co: 0x1000 + i,
                entry: 0,
                entered: false,
                kind: WAIT_MUTEX,
                object: 0,
                arg: 0,
                since_ns: 0,
                tid: 0,
                last_caller: 0,
                yield_stamp: 0,
                ctx: 0,
                held: [0; HELD_SLOTS],
                lock: None,
            })
            .collect()
    }

    fn held_by(list: &[usize]) -> Option<Holders> {
        Some(Holders::Known(list.iter().map(|&h| (h, "")).collect()))
    }

    #[test]
    fn a_two_lock_cycle_is_found_once_and_a_chain_into_it_is_not_one() {
        let s = snaps(4);
        // 0 <-> 1 wait for each other; 2 waits for 0; 3 waits for nothing.
        let h = vec![held_by(&[1]), held_by(&[0]), held_by(&[0]), None];
        assert_eq!(find_cycles(&s, &h), vec![vec![0, 1]]);
    }

    #[test]
    fn cycles_through_a_lock_with_several_readers_are_each_reported() {
        let s = snaps(3);
        // 0 waits for a rwlock read by 1 and 2; both wait for 0's mutex.
        let h = vec![held_by(&[1, 2]), held_by(&[0]), held_by(&[0])];
        let mut found = find_cycles(&s, &h);
        found.sort();
        assert_eq!(found, vec![vec![0, 1], vec![0, 2]]);
    }

    #[test]
    fn a_coroutine_waiting_for_a_mutex_it_holds_is_a_cycle_of_one() {
        let s = snaps(1);
        assert_eq!(find_cycles(&s, &[held_by(&[0])]), vec![vec![0]]);
    }
}
