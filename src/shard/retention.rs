//! The shard's retention task: every `log.retention.check.interval.ms` it
//! deletes, in each partition led here, the sealed segments that
//! `retention.ms`, `retention.bytes` or DeleteRecords left unneeded. It
//! touches no active segment and never waits for a partition's writer
//! task, so produce and fetch go on beside it.
//!
//! Invariants (asserted after every pass over a partition): a pass deletes
//! sealed segments oldest first, contiguous in offset, so the log start
//! offset only moves forward, to at least the end of the last one deleted.

use std::rc::Rc;
use std::time::Duration;

use super::Shard;
use crate::rt::now_milliseconds;

pub async fn run(shard: Rc<Shard>) {
    let interval = Duration::from_millis(shard.config.retention_check_interval_milliseconds);
    loop {
        crate::rt::sleep(interval).await;
        enforce(&shard);
    }
}

/// One retention pass over the shard's partitions.
pub fn enforce(shard: &Shard) {
    let now = now_milliseconds();
    for partition in shard.partitions.all() {
        let start_before = partition.log_start_offset();
        let deleted = partition.log().enforce_retention(now);
        for (index, segment) in deleted.iter().enumerate() {
            tracing::info!(
                "shard {}: {}-{}: deleted segment {} (offsets {} to {}, {} bytes): {}; log start offset now {}",
                shard.id,
                partition.topic,
                partition.index,
                segment.base_offset,
                segment.base_offset,
                segment.next_offset - 1,
                segment.bytes,
                segment.reason,
                partition.log_start_offset()
            );
            if let Some(previous) = index.checked_sub(1).map(|previous| &deleted[previous]) {
                assert_eq!(
                    segment.base_offset, previous.next_offset,
                    "retention deletes contiguous segments, oldest first"
                );
            }
        }
        let start_after = partition.log_start_offset();
        assert!(
            start_after >= start_before,
            "retention moved the log start offset back: {start_before} to {start_after}"
        );
        if let Some(last) = deleted.last() {
            assert!(start_after >= last.next_offset);
        }
    }
}
