//! Execution time: real time scaled by `time_scale`, or virtual (scale 0) so that waits and
//! retry back-offs take no real time while every outcome stays the same.
//!
//! A virtual clock runs at real speed while the execution waits for task IO (`set_live`): the
//! IO takes real time, and the task's timeout must be measured against it.

use std::time::{Duration, Instant};

/// A clock on which an execution's time passes `1 / time_scale` times as fast as real time;
/// with scale 0 it only moves when told to (`advance_to`).
#[derive(Debug, Clone)]
pub struct Clock {
    scale: f64,
    real_start: Instant,
    virtual_start: i64,
    skipped_ms: i64,
    /// Since when a virtual clock runs at real speed (task IO outstanding).
    live_since: Option<Instant>,
}

impl Clock {
    /// A clock starting at the current wall time.
    pub fn new(scale: f64) -> Clock {
        Clock::starting_at(scale, None)
    }

    /// A clock starting at `start` (milliseconds since the Unix epoch), or at the current
    /// wall time.
    pub fn starting_at(scale: f64, start: Option<i64>) -> Clock {
        Clock {
            scale: scale.max(0.0),
            real_start: Instant::now(),
            virtual_start: start.unwrap_or_else(crate::time::now_millis),
            skipped_ms: 0,
            live_since: None,
        }
    }

    /// Milliseconds since the Unix epoch, on this clock.
    pub fn now(&self) -> i64 {
        let real = self.real_start.elapsed().as_secs_f64() * 1000.0;
        let scaled = if self.scale > 0.0 {
            real / self.scale
        } else {
            self.live_since
                .map_or(0.0, |since| since.elapsed().as_secs_f64() * 1000.0)
        };
        self.virtual_start + scaled as i64 + self.skipped_ms
    }

    /// How long to wait in real time until the clock reads `at`; `None` when no real wait is
    /// needed (already there, or a virtual clock that is not live, which `advance_to` moves
    /// instead).
    pub fn real_wait(&self, at: i64) -> Option<Duration> {
        let now = self.now();
        if at <= now || (self.scale <= 0.0 && self.live_since.is_none()) {
            return None;
        }
        let scale = if self.scale > 0.0 { self.scale } else { 1.0 };
        Some(Duration::from_secs_f64((at - now) as f64 * scale / 1000.0))
    }

    /// How much real time passes until the clock reads `at`, were it running (a virtual clock
    /// counts as running at real speed): how long task IO due by `at` may take.
    pub fn real_span(&self, at: i64) -> Duration {
        let ms = (at - self.now()).max(0) as f64;
        let scale = if self.scale > 0.0 { self.scale } else { 1.0 };
        Duration::from_secs_f64(ms * scale / 1000.0)
    }

    /// Moves the clock forward to `at` if it is behind.
    pub fn advance_to(&mut self, at: i64) {
        let now = self.now();
        if now < at {
            self.skipped_ms += at - now;
        }
    }

    /// Makes a virtual clock run at real speed (`true`, while task IO is outstanding) or stand
    /// still again; a scaled clock is not affected.
    pub fn set_live(&mut self, live: bool) {
        if self.scale > 0.0 || live == self.live_since.is_some() {
            return;
        }
        match self.live_since.take() {
            Some(since) => self.skipped_ms += since.elapsed().as_millis() as i64,
            None => self.live_since = Some(Instant::now()),
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
    fn a_live_virtual_clock_runs_at_real_speed() {
        let mut clock = Clock::new(0.0);
        let start = clock.now();
        clock.set_live(true);
        assert!(clock.real_wait(start + 60_000).is_some());
        std::thread::sleep(std::time::Duration::from_millis(30));
        assert!(clock.now() >= start + 30);
        clock.set_live(false);
        let stopped = clock.now();
        std::thread::sleep(std::time::Duration::from_millis(10));
        assert_eq!(clock.now(), stopped);
        assert_eq!(clock.real_wait(stopped + 60_000), None);
    }

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
