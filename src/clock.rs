//! Execution time: real time scaled by `time_scale`, or virtual (scale 0) so that waits and
//! retry back-offs take no real time while every outcome stays the same.

use std::time::{Duration, Instant};

/// A clock on which an execution's time passes `1 / time_scale` times as fast as real time;
/// with scale 0 it only moves when told to (`advance_to`).
#[derive(Debug, Clone)]
pub struct Clock {
    scale: f64,
    real_start: Instant,
    virtual_start: i64,
    skipped_ms: i64,
}

impl Clock {
    /// A clock starting at the current wall time.
    pub fn new(scale: f64) -> Clock {
        Clock {
            scale: scale.max(0.0),
            real_start: Instant::now(),
            virtual_start: crate::time::now_millis(),
            skipped_ms: 0,
        }
    }

    /// Milliseconds since the Unix epoch, on this clock.
    pub fn now(&self) -> i64 {
        let real = self.real_start.elapsed().as_secs_f64() * 1000.0;
        let scaled = if self.scale > 0.0 {
            real / self.scale
        } else {
            0.0
        };
        self.virtual_start + scaled as i64 + self.skipped_ms
    }

    /// How long to wait in real time until the clock reads `at`; `None` when no real wait is
    /// needed (already there, or a virtual clock, which `advance_to` moves instead).
    pub fn real_wait(&self, at: i64) -> Option<Duration> {
        let now = self.now();
        if at <= now || self.scale <= 0.0 {
            return None;
        }
        Some(Duration::from_secs_f64(
            (at - now) as f64 * self.scale / 1000.0,
        ))
    }

    /// Moves the clock forward to `at` if it is behind.
    pub fn advance_to(&mut self, at: i64) {
        let now = self.now();
        if now < at {
            self.skipped_ms += at - now;
        }
    }

    /// Sleeps the thread until the clock reads `at` (no sleep on a virtual clock).
    pub fn sleep_until(&mut self, at: i64) {
        if let Some(wait) = self.real_wait(at) {
            std::thread::sleep(wait);
        }
        // Land exactly on the target despite sleep granularity.
        self.advance_to(at);
    }
}

#[cfg(test)]
mod tests {
    use super::Clock;

    #[test]
    fn a_virtual_clock_moves_only_when_advanced() {
        let mut clock = Clock::new(0.0);
        let start = clock.now();
        assert_eq!(clock.real_wait(start + 60_000), None);
        clock.sleep_until(start + 60_000);
        assert_eq!(clock.now(), start + 60_000);
        clock.advance_to(start + 1_000);
        assert_eq!(clock.now(), start + 60_000);
    }

    #[test]
    fn a_scaled_clock_waits_a_scaled_time() {
        let clock = Clock::new(0.001);
        let start = clock.now();
        let wait = clock
            .real_wait(start + 10_000)
            .map(|wait| wait.as_secs_f64());
        assert!(
            matches!(wait, Some(seconds) if seconds <= 0.0101),
            "{wait:?}"
        );
    }
}
