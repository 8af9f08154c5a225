//! Adaptive busy polling (QEMU's poll-max-ns, poll-grow, poll-shrink).
//!
//! With a maximum above 0, a blocking `aio_poll` first calls the `io_poll`
//! functions of the fds it polls, in a loop, for up to the largest of their
//! poll times, before it sleeps in epoll. An fd is polled once its handler
//! has run (activity tends to continue) and while every registered fd has
//! an `io_poll` (one without could only be seen by epoll, so the loop must
//! sleep there). Each polled fd's time adapts, as in QEMU, to how long the
//! loop blocked before that fd's handler ran: it stays when the event came
//! within the poll time, grows (from 4 us, by `grow`, default 2, up to the
//! maximum) when it came later but within the maximum, and shrinks (divided
//! by `shrink`, or to 0 without one) when it came later than the maximum.
//!
//! With the maximum at 0 (the default, as in a bare QEMU context) the loop
//! never busy-polls and this costs one relaxed load per `aio_poll`.

use std::sync::atomic::{AtomicI64, Ordering};

use super::timer::QEMU_CLOCK_REALTIME;

/// Where polling starts when an fd's time first grows (QEMU's 4 us).
const FIRST_POLL_NS: i64 = 4_000;
/// The growth factor when `grow` is 0.
const DEFAULT_GROW: i64 = 2;

/// A context's polling parameters; read without ordering, as QEMU does
/// (a stale value is used for at most one iteration).
#[derive(Default)]
pub struct PollParams {
    max_ns: AtomicI64,
    grow: AtomicI64,
    shrink: AtomicI64,
}

impl PollParams {
    /// The maximum poll time; 0: polling is off.
    pub fn max_ns(&self) -> i64 {
        self.max_ns.load(Ordering::Relaxed)
    }

    /// Sets the parameters, or names the first negative one.
    pub fn set(&self, max_ns: i64, grow: i64, shrink: i64) -> Result<(), &'static str> {
        for (name, v) in [
            ("poll-max-ns", max_ns),
            ("poll-grow", grow),
            ("poll-shrink", shrink),
        ] {
            if v < 0 {
                return Err(name);
            }
        }
        self.max_ns.store(max_ns, Ordering::Relaxed);
        self.grow.store(grow, Ordering::Relaxed);
        self.shrink.store(shrink, Ordering::Relaxed);
        Ok(())
    }

    /// The adjustment for an iteration that blocked `block_ns`.
    pub fn adjust(&self, block_ns: i64) -> Adjust {
        Adjust {
            block_ns,
            max_ns: self.max_ns(),
            grow: self.grow.load(Ordering::Relaxed),
            shrink: self.shrink.load(Ordering::Relaxed),
        }
    }
}

/// How the poll times of the fds an iteration dispatched change.
#[derive(Clone, Copy)]
pub struct Adjust {
    block_ns: i64,
    max_ns: i64,
    grow: i64,
    shrink: i64,
}

impl Adjust {
    /// QEMU's rule (see the top of the file) applied to one fd's time.
    pub fn apply(&self, poll_ns: &mut i64) {
        if self.block_ns <= *poll_ns {
            // The event came while we polled: the time is right.
        } else if self.block_ns > self.max_ns {
            *poll_ns = if self.shrink != 0 {
                *poll_ns / self.shrink
            } else {
                0
            };
        } else if *poll_ns < self.max_ns && self.block_ns < self.max_ns {
            let grow = if self.grow == 0 {
                DEFAULT_GROW
            } else {
                self.grow
            };
            *poll_ns = if *poll_ns == 0 {
                FIRST_POLL_NS
            } else {
                poll_ns.saturating_mul(grow)
            };
            *poll_ns = (*poll_ns).min(self.max_ns);
        }
    }
}

/// The clock poll times are measured on (QEMU's realtime clock).
pub fn now_ns() -> i64 {
    QEMU_CLOCK_REALTIME.now_ns()
}

/// QEMU's qemu_soonest_timeout: the smaller of two timeouts, -1 meaning none.
pub fn soonest(a: i64, b: i64) -> i64 {
    // As unsigned, -1 is the largest value.
    (a as u64).min(b as u64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adjust(block_ns: i64, max_ns: i64, grow: i64, shrink: i64, ns: i64) -> i64 {
        let mut ns = ns;
        Adjust {
            block_ns,
            max_ns,
            grow,
            shrink,
        }
        .apply(&mut ns);
        ns
    }

    #[test]
    fn poll_time_follows_qemus_rule() {
        // Within the poll time: unchanged.
        assert_eq!(adjust(3_000, 100_000, 2, 2, 4_000), 4_000);
        // Later but within the maximum: grows from 4 us, by grow, capped.
        assert_eq!(adjust(10, 100_000, 0, 0, 0), 4_000);
        assert_eq!(adjust(9_000, 100_000, 0, 0, 4_000), 8_000);
        assert_eq!(adjust(9_000, 100_000, 8, 0, 4_000), 32_000);
        assert_eq!(adjust(90_000, 100_000, 8, 0, 64_000), 100_000);
        // Later than the maximum: shrinks by shrink, or to 0.
        assert_eq!(adjust(200_000, 100_000, 2, 4, 64_000), 16_000);
        assert_eq!(adjust(200_000, 100_000, 2, 0, 64_000), 0);
    }

    #[test]
    fn soonest_treats_minus_one_as_no_timeout() {
        assert_eq!(soonest(-1, 5), 5);
        assert_eq!(soonest(7, -1), 7);
        assert_eq!(soonest(-1, -1), -1);
        assert_eq!(soonest(0, 5), 0);
    }
}
