//! The shard's retention task: every `log.retention.check.interval.ms` it
//! deletes, in each partition led here, the sealed segments that
//! `retention.ms`, `retention.bytes` or DeleteRecords left unneeded. It
//! touches no active segment and takes no append lock, so produce and fetch
//! go on beside it.

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
    for partition in shard.partitions() {
        for deleted in partition.log().enforce_retention(now) {
            eprintln!(
                "corelog: shard {}: {}-{}: deleted segment {} (offsets {} to {}, {} bytes): {}; log start offset now {}",
                shard.id,
                partition.topic,
                partition.index,
                deleted.base_offset,
                deleted.base_offset,
                deleted.next_offset - 1,
                deleted.bytes,
                deleted.reason,
                partition.log_start_offset()
            );
        }
    }
}
