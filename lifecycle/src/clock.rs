//! The lifecycle clock.
//!
//! Invariant: lifecycle durations are measured in lifecycle days, and a lifecycle day lasts
//! `day_seconds` real seconds (86400 by default). With a shorter day the clock still reads wall
//! time; only the length of a day changes, so "30 days after creation" on a 10-second day falls
//! 300 real seconds after the object was written, as Ceph RGW's `rgw_lc_debug_interval` does.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Real seconds in an ordinary day.
pub const SECONDS_PER_DAY: u64 = 86_400;

/// Converts between wall time and lifecycle days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LifecycleClock {
    day_seconds: u64,
    offset_ms: i64,
}

impl Default for LifecycleClock {
    fn default() -> Self {
        Self::system()
    }
}

impl LifecycleClock {
    /// The ordinary clock: a day is a day.
    pub fn system() -> Self {
        Self {
            day_seconds: SECONDS_PER_DAY,
            offset_ms: 0,
        }
    }

    /// A clock whose lifecycle day lasts `day_seconds` real seconds (at least one).
    pub fn scaled(day_seconds: u64) -> Self {
        Self {
            day_seconds: day_seconds.max(1),
            offset_ms: 0,
        }
    }

    /// The same clock read `offset_ms` later (tests, and "what will happen at" questions).
    pub fn shifted(self, offset_ms: i64) -> Self {
        Self {
            offset_ms: self.offset_ms.saturating_add(offset_ms),
            ..self
        }
    }

    /// Real seconds per lifecycle day.
    pub fn day_seconds(&self) -> u64 {
        self.day_seconds
    }

    /// Whether days are shortened.
    pub fn is_scaled(&self) -> bool {
        self.day_seconds != SECONDS_PER_DAY
    }

    /// Now, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
            .saturating_add(self.offset_ms)
    }

    /// The real duration of `days` lifecycle days.
    pub fn days(&self, days: u64) -> Duration {
        Duration::from_secs(days.saturating_mul(self.day_seconds))
    }

    /// The instant (ms since the epoch) `days` lifecycle days after `from_ms`.
    pub fn add_days(&self, from_ms: i64, days: u64) -> i64 {
        from_ms.saturating_add(self.days(days).as_millis().min(i64::MAX as u128) as i64)
    }

    /// Whole lifecycle days elapsed from `from_ms` to `to_ms` (0 if `to_ms` is earlier).
    pub fn days_between(&self, from_ms: i64, to_ms: i64) -> u64 {
        if to_ms <= from_ms {
            return 0;
        }
        ((to_ms - from_ms) as u64) / (self.day_seconds * 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_days() {
        let c = LifecycleClock::scaled(10);
        assert_eq!(c.days(3), Duration::from_secs(30));
        assert_eq!(c.add_days(1_000, 2), 21_000);
        assert_eq!(c.days_between(0, 29_999), 2);
        assert_eq!(c.days_between(5, 0), 0);
        assert!(c.is_scaled());
        assert!(!LifecycleClock::system().is_scaled());
        assert_eq!(LifecycleClock::scaled(0).day_seconds(), 1);
    }
}
