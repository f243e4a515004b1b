//! Time, from one place. Everything that needs "now" asks `AppState::clock`, so tests can
//! drive time instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use time::OffsetDateTime;

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> OffsetDateTime;

    /// Seconds since the Unix epoch: the unit every timestamp in the database uses.
    fn now_unix(&self) -> i64 {
        self.now().unix_timestamp()
    }
}

pub type SharedClock = Arc<dyn Clock>;

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place allowed to read the wall clock
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that starts at the wall-clock time and that tests move forward by hand.
#[derive(Debug)]
pub struct ManualClock {
    offset_seconds: AtomicI64,
}

impl ManualClock {
    pub fn new() -> Self {
        ManualClock {
            offset_seconds: AtomicI64::new(0),
        }
    }

    pub fn advance(&self, seconds: i64) {
        self.offset_seconds.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        SystemClock.now() + time::Duration::seconds(self.offset_seconds.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_forward_when_advanced() {
        let clock = ManualClock::new();
        let before = clock.now_unix();
        clock.advance(120);
        let after = clock.now_unix();
        assert!(after - before >= 120 && after - before < 125);
    }
}
