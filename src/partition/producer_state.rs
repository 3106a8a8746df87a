//! The idempotent producers' state machine of one partition: each producer
//! id's epoch and its last few batches (sequence range and offsets), so a
//! retried batch is answered with its original offset instead of being
//! written twice, a gap in sequence numbers is refused, and a fenced epoch
//! is refused. The partition's writer judges each idempotent batch against
//! it ([`ProducerState::check`]) and records what it wrote; the log feeds
//! it at recovery (batch headers it scans, or a seal's snapshot) and
//! snapshots it into each seal record, through
//! [`crate::storage::producers::ProducerHistory`].
//!
//! Invariants: per producer, `recent` holds at most
//! `PRODUCER_BATCHES_REMEMBERED` batches, in log order, all of `epoch`; the
//! map holds at most `PRODUCERS_PER_PARTITION_MAX` producers (the one idle
//! longest, by last offset, is forgotten first); only batches that are in
//! the log are recorded.

use std::collections::{HashMap, VecDeque};

use crate::limits::{PRODUCERS_PER_PARTITION_MAX, PRODUCER_BATCHES_REMEMBERED};
use crate::storage::producers::{add_sequence, ProducerBatch, ProducerHistory};

/// The verdict on an incoming idempotent batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Append,
    /// Already in the log: answer with its offsets, write nothing.
    Duplicate {
        base_offset: i64,
        last_offset: i64,
    },
    /// An epoch older than the producer's current one.
    FencedEpoch,
    /// The sequence does not follow the producer's last batch.
    OutOfOrder,
}

#[derive(Debug, Default)]
struct ProducerEntry {
    epoch: i16,
    recent: VecDeque<ProducerBatch>,
}

#[derive(Debug, Default)]
pub struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
}

impl ProducerState {
    /// Judges `batch` (its offsets not assigned yet) against what the log holds.
    pub fn check(&self, batch: &ProducerBatch) -> Verdict {
        let Some(entry) = self.producers.get(&batch.producer_id) else {
            // Unknown producer (new, or forgotten): any first sequence goes.
            return Verdict::Append;
        };
        if batch.producer_epoch < entry.epoch {
            return Verdict::FencedEpoch;
        }
        if batch.producer_epoch > entry.epoch {
            return if batch.first_sequence == 0 {
                Verdict::Append
            } else {
                Verdict::OutOfOrder
            };
        }
        if let Some(earlier) = entry.recent.iter().find(|earlier| {
            earlier.first_sequence == batch.first_sequence
                && earlier.last_sequence == batch.last_sequence
        }) {
            return Verdict::Duplicate {
                base_offset: earlier.base_offset,
                last_offset: earlier.last_offset,
            };
        }
        match entry.recent.back() {
            Some(last) if batch.first_sequence != add_sequence(last.last_sequence, 1) => {
                Verdict::OutOfOrder
            }
            _ => Verdict::Append,
        }
    }

    /// Records a batch that is now in the log (appended, or found by recovery).
    pub fn record(&mut self, batch: ProducerBatch) {
        debug_assert!(
            batch.last_offset >= batch.base_offset,
            "a batch holds at least one offset"
        );
        if !self.producers.contains_key(&batch.producer_id)
            && self.producers.len() >= PRODUCERS_PER_PARTITION_MAX
        {
            let idlest = self
                .producers
                .iter()
                .min_by_key(|(_, entry)| {
                    entry
                        .recent
                        .back()
                        .map_or(i64::MIN, |last| last.last_offset)
                })
                .map(|(&producer_id, _)| producer_id);
            if let Some(producer_id) = idlest {
                self.producers.remove(&producer_id);
            }
        }
        let entry = self.producers.entry(batch.producer_id).or_default();
        if batch.producer_epoch != entry.epoch {
            entry.epoch = batch.producer_epoch;
            entry.recent.clear();
        }
        entry.recent.push_back(batch);
        while entry.recent.len() > PRODUCER_BATCHES_REMEMBERED {
            entry.recent.pop_front();
        }
    }

    /// Every remembered batch, in log order: what a seal record stores.
    pub fn snapshot(&self) -> Vec<ProducerBatch> {
        let mut batches: Vec<ProducerBatch> = self
            .producers
            .values()
            .flat_map(|entry| entry.recent.iter().copied())
            .collect();
        batches.sort_by_key(|batch| batch.last_offset);
        batches
    }

    /// The state a snapshot describes.
    pub fn restore(batches: &[ProducerBatch]) -> ProducerState {
        let mut state = ProducerState::default();
        for batch in batches {
            state.record(*batch);
        }
        state
    }
}

/// The partition's shared copy, borrowed only for each call (so the log
/// can hold it across a write that may seal).
impl ProducerHistory for std::cell::RefCell<ProducerState> {
    fn record(&mut self, batch: ProducerBatch) {
        self.get_mut().record(batch);
    }

    fn restore(&mut self, batches: &[ProducerBatch]) {
        *self.get_mut() = ProducerState::restore(batches);
    }

    fn snapshot(&self) -> Vec<ProducerBatch> {
        self.borrow().snapshot()
    }
}

impl ProducerHistory for ProducerState {
    fn record(&mut self, batch: ProducerBatch) {
        ProducerState::record(self, batch);
    }

    fn restore(&mut self, batches: &[ProducerBatch]) {
        *self = ProducerState::restore(batches);
    }

    fn snapshot(&self) -> Vec<ProducerBatch> {
        ProducerState::snapshot(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(epoch: i16, first: i32, count: i32, base_offset: i64) -> ProducerBatch {
        ProducerBatch::from_header(7, epoch, first, count - 1, base_offset).unwrap()
    }

    #[test]
    fn retries_are_duplicates_gaps_are_out_of_order_old_epochs_are_fenced() {
        let mut state = ProducerState::default();
        assert_eq!(state.check(&batch(0, 0, 5, 0)), Verdict::Append);
        state.record(batch(0, 0, 5, 0));
        state.record(batch(0, 5, 5, 5));
        assert_eq!(
            state.check(&batch(0, 0, 5, 99)),
            Verdict::Duplicate {
                base_offset: 0,
                last_offset: 4
            }
        );
        assert_eq!(
            state.check(&batch(0, 5, 5, 99)),
            Verdict::Duplicate {
                base_offset: 5,
                last_offset: 9
            }
        );
        assert_eq!(state.check(&batch(0, 10, 1, 10)), Verdict::Append);
        assert_eq!(
            state.check(&batch(0, 11, 1, 10)),
            Verdict::OutOfOrder,
            "a gap"
        );
        assert_eq!(
            state.check(&batch(1, 3, 1, 10)),
            Verdict::OutOfOrder,
            "a new epoch starts at 0"
        );
        assert_eq!(state.check(&batch(1, 0, 1, 10)), Verdict::Append);
        state.record(batch(1, 0, 1, 10));
        assert_eq!(state.check(&batch(0, 10, 1, 11)), Verdict::FencedEpoch);
    }

    #[test]
    fn only_the_last_five_batches_are_remembered_and_sequences_wrap() {
        let mut state = ProducerState::default();
        for index in 0..7 {
            state.record(batch(0, index, 1, i64::from(index)));
        }
        assert_eq!(
            state.check(&batch(0, 1, 1, 99)),
            Verdict::OutOfOrder,
            "too old to recognise"
        );
        assert!(matches!(
            state.check(&batch(0, 6, 1, 99)),
            Verdict::Duplicate { .. }
        ));
        let near_end = ProducerBatch::from_header(8, 0, i32::MAX - 1, 3, 100).unwrap();
        assert_eq!(near_end.last_sequence, 1);
        state.record(near_end);
        let next = ProducerBatch::from_header(8, 0, 2, 0, 104).unwrap();
        assert_eq!(state.check(&next), Verdict::Append);
        assert!(ProducerBatch::from_header(-1, 0, 0, 0, 0).is_none());
        assert!(ProducerBatch::from_header(3, 0, -1, 0, 0).is_none());
    }
}
