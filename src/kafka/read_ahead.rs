//! Events consumed from librdkafka and not yet handed to the pool.
//!
//! Pausing a partition makes librdkafka drop everything it prefetched for it, and resuming
//! makes it fetch all of that again from the broker. If the stage paused whenever
//! `max_in_flight` executions were out, every `max_in_flight` events would cost one fetch of
//! the whole prefetch (up to the backlog); on a broker that answers such a fetch slowly the
//! stage would crawl. So events that arrive while the executions are at their bound wait here,
//! in the order they came, and consumption pauses only when the bytes the stage holds (in
//! flight and read ahead) reach `max_in_flight_bytes` (`should_pause`).
//!
//! Each waiting event remembers the generation of its partition's assignment: one whose
//! partition was revoked (and perhaps assigned again since) is dropped unstarted, as the
//! partition's next owner reads it again from the committed offset.

use std::collections::VecDeque;
use std::sync::Arc;

/// One event read from the consumer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Waiting {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    /// The generation of the partition's assignment when the event was read.
    pub generation: u64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

impl Waiting {
    /// The event's size as the in-flight bytes count it: payload and key.
    pub fn bytes(&self) -> usize {
        self.payload.len() + self.key.as_ref().map_or(0, Vec::len)
    }

    /// What holding the event costs: its bytes and its bookkeeping, so that a flood of tiny
    /// events is bounded too.
    fn held(&self) -> usize {
        self.bytes() + std::mem::size_of::<Waiting>()
    }
}

/// The read-ahead queue: first in, first out, with the bytes it holds.
#[derive(Debug, Default)]
pub(crate) struct ReadAhead {
    queue: VecDeque<Waiting>,
    held: usize,
}

impl ReadAhead {
    pub fn push(&mut self, event: Waiting) {
        self.held += event.held();
        self.queue.push_back(event);
    }

    /// The oldest waiting event.
    pub fn pop(&mut self) -> Option<Waiting> {
        let event = self.queue.pop_front()?;
        self.held -= event.held();
        Some(event)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.queue.len()
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Bytes held by the waiting events, counting each one's bookkeeping.
    pub fn held(&self) -> usize {
        self.held
    }

    /// Keeps only the events `keep` accepts (the ones of partitions still owned in the same
    /// generation); returns how many were dropped.
    pub fn retain(&mut self, mut keep: impl FnMut(&Waiting) -> bool) -> usize {
        let before = self.queue.len();
        let mut dropped = 0;
        self.queue.retain(|event| {
            let kept = keep(event);
            if !kept {
                dropped += event.held();
            }
            kept
        });
        self.held -= dropped;
        before - self.queue.len()
    }
}

/// Whether to pause consumption (`Some(true)`), resume it (`Some(false)`) or leave it as it is,
/// given the bytes the stage holds (in flight and read ahead) and `max_in_flight_bytes`.
/// Consumption resumes once a quarter of the bound is free again, so it does not flap.
pub(crate) fn should_pause(held: usize, bound: usize, paused: bool) -> Option<bool> {
    if !paused && held >= bound {
        Some(true)
    } else if paused && held <= bound / 4 * 3 {
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(partition: i32, offset: i64, generation: u64, size: usize) -> Waiting {
        Waiting {
            topic: Arc::from("in"),
            partition,
            offset,
            generation,
            key: Some(b"k".to_vec()),
            payload: vec![b'x'; size],
        }
    }

    const EACH: usize = std::mem::size_of::<Waiting>();

    #[test]
    fn events_leave_in_the_order_they_came_and_the_bytes_follow() {
        let mut ahead = ReadAhead::default();
        assert_eq!((ahead.len(), ahead.held()), (0, 0));
        ahead.push(event(1, 7, 1, 10));
        ahead.push(event(0, 3, 1, 20));
        ahead.push(event(1, 8, 1, 0));
        assert_eq!(ahead.len(), 3);
        assert_eq!(ahead.held(), 11 + 21 + 1 + 3 * EACH);
        let order: Vec<(i32, i64)> = std::iter::from_fn(|| ahead.pop())
            .map(|event| (event.partition, event.offset))
            .collect();
        assert_eq!(order, [(1, 7), (0, 3), (1, 8)]);
        assert!(ahead.is_empty());
        assert_eq!(ahead.held(), 0);
    }

    #[test]
    fn events_of_revoked_partitions_are_dropped_and_their_bytes_freed() {
        let mut ahead = ReadAhead::default();
        // Partition 0 stays in generation 1; partition 1 was revoked and assigned again in
        // generation 2, after which its offsets 5 and 6 were read again.
        for offset in 0..3 {
            ahead.push(event(0, offset, 1, 100));
        }
        ahead.push(event(1, 5, 1, 100));
        ahead.push(event(1, 6, 1, 100));
        ahead.push(event(1, 5, 2, 50));
        ahead.push(event(1, 6, 2, 50));
        let owned = |partition: i32| match partition {
            0 => Some(1),
            1 => Some(2),
            _ => None,
        };
        let dropped = ahead.retain(|event| owned(event.partition) == Some(event.generation));
        assert_eq!(dropped, 2);
        assert_eq!(ahead.held(), 3 * 101 + 2 * 51 + 5 * EACH);
        let left: Vec<(i32, i64, u64)> = std::iter::from_fn(|| ahead.pop())
            .map(|event| (event.partition, event.offset, event.generation))
            .collect();
        assert_eq!(
            left,
            [(0, 0, 1), (0, 1, 1), (0, 2, 1), (1, 5, 2), (1, 6, 2)]
        );
        assert_eq!(ahead.held(), 0);
        // Everything revoked: nothing left, nothing held.
        ahead.push(event(2, 0, 3, 10));
        assert_eq!(ahead.retain(|_| false), 1);
        assert!(ahead.is_empty());
        assert_eq!(ahead.held(), 0);
    }

    /// The regression behind the broker-restart test: with a small `max_in_flight` and a
    /// backlog, the stage must keep what librdkafka delivered rather than pause (which drops the
    /// prefetch and fetches it all again) each time the executions reach their bound.
    #[test]
    fn consumption_pauses_at_the_byte_bound_only() {
        let bound = 64 << 20;
        // A full pool (any number of executions) with a read-ahead of thousands of events is
        // far from the byte bound: no pause.
        let mut ahead = ReadAhead::default();
        for offset in 0..9_000 {
            ahead.push(event(0, offset, 1, 15));
        }
        let in_flight_bytes = 100 * 16;
        assert_eq!(
            should_pause(in_flight_bytes + ahead.held(), bound, false),
            None
        );
        // At the bound it pauses, and resumes once a quarter is free again, not before.
        assert_eq!(should_pause(bound, bound, false), Some(true));
        assert_eq!(should_pause(bound - 1, bound, true), None);
        assert_eq!(should_pause(bound / 4 * 3 + 1, bound, true), None);
        assert_eq!(should_pause(bound / 4 * 3, bound, true), Some(false));
        assert_eq!(should_pause(0, bound, false), None);
        // A bound of one byte: any event held pauses, and only an empty stage resumes.
        assert_eq!(should_pause(1, 1, false), Some(true));
        assert_eq!(should_pause(1, 1, true), None);
        assert_eq!(should_pause(0, 1, true), Some(false));
    }
}
