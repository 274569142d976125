//! Per-partition commit watermarks for at-least-once delivery.
//!
//! Executions finish out of order; an offset may be committed only when the results of it and
//! of every earlier offset of its partition have been delivered. `Watermark` tracks the
//! offsets handed out and the ones delivered, and says how far the commit may move.

use std::collections::BTreeSet;

/// The delivery state of one partition.
#[derive(Debug, Clone, Default)]
pub struct Watermark {
    /// The next offset to commit (Kafka's convention: one past the last processed).
    committable: Option<i64>,
    /// Offsets handed out and not yet delivered.
    pending: BTreeSet<i64>,
    /// The lowest offset ever handed out: committing it would say nothing new.
    floor: Option<i64>,
    /// The highest offset handed out.
    highest: Option<i64>,
}

impl Watermark {
    pub fn new() -> Watermark {
        Watermark::default()
    }

    /// Records that `offset` was handed to a worker.
    pub fn started(&mut self, offset: i64) {
        self.pending.insert(offset);
        self.floor = Some(self.floor.map_or(offset, |floor| floor.min(offset)));
        self.highest = Some(self.highest.map_or(offset, |highest| highest.max(offset)));
    }

    /// Records that the result of `offset` was delivered; returns the new commit position
    /// when it moved. Every started offset below the position has been delivered.
    pub fn delivered(&mut self, offset: i64) -> Option<i64> {
        if !self.pending.remove(&offset) {
            return None;
        }
        let position = match self.pending.first() {
            Some(&lowest) => lowest,
            None => self.highest? + 1,
        };
        let floor = self.committable.or(self.floor)?;
        if position > floor {
            self.committable = Some(position);
            Some(position)
        } else {
            None
        }
    }

    /// The commit position, if anything may be committed.
    pub fn committable(&self) -> Option<i64> {
        self.committable
    }

    /// Offsets handed out and not yet delivered.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::Watermark;

    /// Starts offsets `started`, delivers `delivered` in order, and checks the commit
    /// position after each delivery.
    fn check(started: &[i64], delivered: &[(i64, Option<i64>)]) {
        let mut watermark = Watermark::new();
        for &offset in started {
            watermark.started(offset);
        }
        for &(offset, expected) in delivered {
            watermark.delivered(offset);
            assert_eq!(
                watermark.committable(),
                expected,
                "after delivering {offset} (started {started:?}, delivered {delivered:?})"
            );
        }
    }

    #[test]
    fn commit_position_follows_the_lowest_undelivered_offset() {
        check(&[0, 1, 2], &[(0, Some(1)), (1, Some(2)), (2, Some(3))]);
        check(&[0, 1, 2], &[(2, None), (1, None), (0, Some(3))]);
        check(
            &[0, 1, 2, 3],
            &[(1, None), (0, Some(2)), (3, Some(2)), (2, Some(4))],
        );
        check(&[10, 11, 15], &[(15, None), (10, Some(11)), (11, Some(16))]);
        check(&[5], &[(6, None), (5, Some(6))]);
        check(&[], &[(3, None)]);
    }

    #[test]
    fn delivering_twice_changes_nothing() {
        let mut watermark = Watermark::new();
        watermark.started(0);
        watermark.started(1);
        assert_eq!(watermark.delivered(1), None);
        assert_eq!(watermark.delivered(1), None);
        assert_eq!(watermark.delivered(0), Some(2));
        assert_eq!(watermark.delivered(0), None);
        assert_eq!(watermark.in_flight(), 0);
    }

    #[test]
    fn a_long_shuffled_stream_commits_exactly_to_the_end() {
        let mut watermark = Watermark::new();
        let count = 10_000i64;
        for offset in 0..count {
            watermark.started(offset);
        }
        // Deliver in a scrambled but complete order; the position never passes a gap.
        let mut order: Vec<i64> = (0..count).collect();
        let mut rng = fastrand::Rng::with_seed(7);
        rng.shuffle(&mut order);
        let mut delivered = std::collections::BTreeSet::new();
        for offset in order {
            watermark.delivered(offset);
            delivered.insert(offset);
            let expected_gap = (0..count).find(|candidate| !delivered.contains(candidate));
            match (watermark.committable(), expected_gap) {
                (Some(position), Some(gap)) => assert_eq!(position, gap),
                (None, Some(gap)) => assert_eq!(gap, 0),
                (Some(position), None) => assert_eq!(position, count),
                (None, None) => panic!("nothing committable after delivering everything"),
            }
        }
    }
}
