//! Start-up progress: while a shard opens its partitions (recovering any
//! that were not sealed by a clean shutdown), it says every few seconds, or
//! every so many partitions, how far it got; when done, how long it took.
//!
//! Lines (text format; `shard=N` is added by the log):
//! `shard S: recovering: P of T partitions opened, G segments (B bytes) scanned, E so far`
//! and the summary
//! `shard S: opened P partitions in E; G segments were scanned for recovery, the rest trusted from their seal records; B bytes scanned`.

use std::time::{Duration, Instant};

use crate::limits::{RECOVERY_PROGRESS_INTERVAL_MILLISECONDS, RECOVERY_PROGRESS_PARTITIONS_EVERY};

/// Counts what one shard's opening of its partitions has done so far.
pub struct RecoveryProgress {
    shard: u32,
    total: usize,
    opened: usize,
    segments_scanned: usize,
    bytes_scanned: u64,
    started: Instant,
    reported: Instant,
    reported_opened: usize,
}

impl RecoveryProgress {
    /// A shard about to open up to `total` partitions.
    pub fn new(shard: u32, total: usize) -> Self {
        let now = Instant::now();
        RecoveryProgress {
            shard,
            total,
            opened: 0,
            segments_scanned: 0,
            bytes_scanned: 0,
            started: now,
            reported: now,
            reported_opened: 0,
        }
    }

    /// One partition opened, having scanned `segments` segments of `bytes`
    /// bytes; logs a progress line when one is due.
    pub fn opened(&mut self, segments: usize, bytes: u64) {
        self.opened += 1;
        self.segments_scanned += segments;
        self.bytes_scanned += bytes;
        let interval = Duration::from_millis(RECOVERY_PROGRESS_INTERVAL_MILLISECONDS);
        let due = self.reported.elapsed() >= interval
            || self.opened - self.reported_opened >= RECOVERY_PROGRESS_PARTITIONS_EVERY;
        if due && self.opened < self.total {
            tracing::info!("{}", self.progress_line());
            self.reported = Instant::now();
            self.reported_opened = self.opened;
        }
    }

    pub fn progress_line(&self) -> String {
        format!(
            "shard {}: recovering: {} of {} partitions opened, {} segments ({} bytes) scanned, {:?} so far",
            self.shard,
            self.opened,
            self.total,
            self.segments_scanned,
            self.bytes_scanned,
            self.started.elapsed()
        )
    }

    /// The summary line, once every partition is open.
    pub fn summary_line(&self) -> String {
        format!(
            "shard {}: opened {} partitions in {:?}; {} segments were scanned for recovery, \
             the rest trusted from their seal records; {} bytes scanned",
            self.shard,
            self.opened,
            self.started.elapsed(),
            self.segments_scanned,
            self.bytes_scanned
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_every_opened_partition() {
        let mut progress = RecoveryProgress::new(2, 3);
        progress.opened(1, 100);
        progress.opened(0, 0);
        progress.opened(2, 50);
        let line = progress.summary_line();
        assert!(
            line.starts_with("shard 2: opened 3 partitions in "),
            "{line}"
        );
        // tests/recovery.rs reads the scanned count as the first word after "; ".
        assert_eq!(
            line.split("; ").nth(1).unwrap().split(' ').next(),
            Some("3")
        );
        assert!(line.ends_with("; 150 bytes scanned"), "{line}");
    }
}
