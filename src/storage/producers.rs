//! What storage knows of idempotent producers: the producer fields of a
//! batch ([`ProducerBatch`], read from batch headers by the recovery scan
//! and stored in seal records), and the interface through which the log
//! feeds and snapshots the partition's producer state machine
//! ([`ProducerHistory`], implemented by `partition::producer_state`), which
//! judges appends and lives above storage.
//!
//! Invariants: the log calls `record` for batches in log order, and
//! `restore` with a seal's snapshot before any batch after that seal; what
//! `snapshot` returns, restored, judges every later batch the same way.

/// What an idempotent batch says about itself (from its header) and where
/// it landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerBatch {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub first_sequence: i32,
    pub last_sequence: i32,
    pub base_offset: i64,
    pub last_offset: i64,
}

impl ProducerBatch {
    /// Reads the producer fields of a batch header; `None` for batches of
    /// producers that are not idempotent (producer id or sequence -1).
    pub fn from_header(
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
        last_offset_delta: i32,
        base_offset: i64,
    ) -> Option<ProducerBatch> {
        if producer_id < 0 || base_sequence < 0 {
            return None;
        }
        Some(ProducerBatch {
            producer_id,
            producer_epoch,
            first_sequence: base_sequence,
            last_sequence: add_sequence(base_sequence, last_offset_delta),
            base_offset,
            // Wraps rather than panics on a damaged header; the scan that
            // reads headers off the disk refuses such batches anyway.
            last_offset: base_offset.wrapping_add(i64::from(last_offset_delta)),
        })
    }
}

/// Sequences wrap to 0 after `i32::MAX`, as in Kafka.
pub fn add_sequence(sequence: i32, delta: i32) -> i32 {
    let sum = i64::from(sequence) + i64::from(delta);
    (sum % (i64::from(i32::MAX) + 1)) as i32
}

/// The partition's producer state as the log sees it: fed at recovery,
/// snapshotted into each seal record.
pub trait ProducerHistory {
    /// A batch now in the log (found by recovery, or appended).
    fn record(&mut self, batch: ProducerBatch);
    /// Replaces everything with a seal record's snapshot.
    fn restore(&mut self, batches: &[ProducerBatch]);
    /// What a seal record stores: every batch remembered, in log order.
    fn snapshot(&self) -> Vec<ProducerBatch>;
}

/// Every batch, unbounded and never judged: for storage tests and tools
/// that need a history but no producer checks.
impl ProducerHistory for Vec<ProducerBatch> {
    fn record(&mut self, batch: ProducerBatch) {
        self.push(batch);
    }

    fn restore(&mut self, batches: &[ProducerBatch]) {
        self.clear();
        self.extend_from_slice(batches);
    }

    fn snapshot(&self) -> Vec<ProducerBatch> {
        self.clone()
    }
}

/// An empty history for storage tests, which judge no producers.
#[cfg(test)]
pub(crate) fn no_producers() -> Vec<ProducerBatch> {
    Vec::new()
}
