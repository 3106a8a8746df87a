//! The one place a partition's high watermark comes from: the offset below
//! which records are committed, so consumers may read them and acks=all
//! producers may be answered.
//!
//! Today a partition has one replica, and "committed" means what the flush
//! policy promises of the local log: under the durable policy the synced
//! (durable) offset, under the interval policy everything written (as Kafka
//! with one replica). With followers, each follower's fetch offset will be
//! reported to the tracker (a `follower_fetched(replica, offset)` beside
//! [`CommitTracker::high_watermark`]) and the high watermark will be the
//! least log end offset among the in-sync replicas, capped by the leader's
//! own under the flush policy.
//!
//! Invariants: the high watermark is within the log (at most its end
//! offset); under one flush policy it never decreases while the partition
//! is open (the durable offset and the log end only grow between
//! truncations, which only a follower does).

use crate::storage::{FlushPolicy, Log};

/// The partition's commit point. Holds nothing yet: with one replica the
/// log alone decides it. Followers' fetch offsets will live here.
#[derive(Debug, Default)]
pub struct CommitTracker {}

impl CommitTracker {
    /// The high watermark of `log`, under its flush policy.
    pub fn high_watermark(&self, log: &Log) -> i64 {
        let local = match log.config().flush {
            FlushPolicy::Durable => log.durable_offset(),
            FlushPolicy::Interval { .. } => log.log_end_offset(),
        };
        // The in-sync replicas' minimum is taken here once there are any.
        let high_watermark = local;
        debug_assert!(
            high_watermark <= log.log_end_offset(),
            "the high watermark is within the log"
        );
        high_watermark
    }
}
