//! Clocks: the system's, and a manual one a test moves (forward, or in
//! jumps of the wall clock either way). Code that measures time takes a
//! [`Clock`] instead of calling `Instant::now()`, so a test can make an hour
//! pass at once or turn the wall clock back.
//!
//! Why a trait with static dispatch: the storage log is generic over its
//! clock (`Log<F, C = SystemClock>`), so the broker's clock is a plain call
//! to `Instant::now()` with no indirection.
//!
//! Invariants: `now()` never goes backwards (a monotonic clock, manual or
//! not); `now_milliseconds()` is wall-clock time and may jump either way.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Where time comes from.
pub trait Clock {
    /// Monotonic time, for durations and deadlines.
    fn now(&self) -> Instant;

    /// Wall-clock milliseconds since the Unix epoch (timestamps, retention).
    fn now_milliseconds(&self) -> i64;
}

/// The system's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn now_milliseconds(&self) -> i64 {
        super::now_milliseconds()
    }
}

/// A clock that moves only when told. Clones share one time, so a test
/// keeps a clone to move the clock of whatever it handed one to.
#[derive(Debug, Clone)]
pub struct ManualClock {
    time: Rc<ManualTime>,
}

#[derive(Debug)]
struct ManualTime {
    now: Cell<Instant>,
    wall_milliseconds: Cell<i64>,
}

impl Default for ManualClock {
    /// Starts at the system's time.
    fn default() -> Self {
        ManualClock {
            time: Rc::new(ManualTime {
                now: Cell::new(Instant::now()),
                wall_milliseconds: Cell::new(super::now_milliseconds()),
            }),
        }
    }
}

impl ManualClock {
    /// Moves both clocks forward by `elapsed`.
    pub fn advance(&self, elapsed: Duration) {
        self.time.now.set(self.time.now.get() + elapsed);
        let milliseconds = elapsed.as_millis().min(i64::MAX as u128) as i64;
        let wall = self
            .time
            .wall_milliseconds
            .get()
            .saturating_add(milliseconds);
        self.time.wall_milliseconds.set(wall);
    }

    /// Sets the wall clock (a jump either way, as an NTP step or an operator
    /// can make); the monotonic clock does not move.
    pub fn set_wall_milliseconds(&self, milliseconds: i64) {
        self.time.wall_milliseconds.set(milliseconds);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.time.now.get()
    }

    fn now_milliseconds(&self) -> i64 {
        self.time.wall_milliseconds.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told_and_clones_share_it() {
        let clock = ManualClock::default();
        let shared = clock.clone();
        let (start, wall) = (clock.now(), clock.now_milliseconds());
        assert_eq!(shared.now(), start);
        clock.advance(Duration::from_secs(3600));
        assert_eq!(shared.now() - start, Duration::from_secs(3600));
        assert_eq!(shared.now_milliseconds(), wall + 3_600_000);
        shared.set_wall_milliseconds(0);
        assert_eq!(clock.now_milliseconds(), 0);
        assert_eq!(clock.now() - start, Duration::from_secs(3600));
    }
}
