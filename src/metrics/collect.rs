//! What one shard reports to a scrape: its counters (copied from its
//! registry) and gauges read from what it owns at that moment (partitions,
//! connections, open files, the tail cache, the groups it coordinates).
//!
//! Runs on the shard it describes, when the shard's inbox gets
//! `ShardMessage::Collect` (or directly, on shard 0, which serves the
//! scrape); the [`ShardSample`] it builds is plain data and crosses cores.
//!
//! Invariants: a sample describes one shard at one moment; nothing here
//! changes the shard; the lag entries are at most
//! `LAG_PARTITIONS_REPORTED_PER_SHARD_MAX`.

use super::registry::{self, Counters};
use crate::limits::LAG_PARTITIONS_REPORTED_PER_SHARD_MAX;
use crate::shard::Shard;

/// A shard's counters and gauges at one moment.
#[derive(Debug, Clone, Default)]
pub struct ShardSample {
    pub shard: u32,
    pub counters: Counters,
    pub connections: u64,
    pub connections_budget: u64,
    /// Segment-file descriptors open, and this shard's budget of them.
    pub segment_files_open: u64,
    pub segment_files_budget: u64,
    pub tail_cache_bytes: u64,
    pub tail_cache_budget_bytes: u64,
    pub partitions_led: u64,
    /// Partitions led here whose ISR is smaller than their replica set.
    pub under_replicated_partitions: u64,
    /// Partitions of the cluster with no live leader, as this host's
    /// metadata has them (counted by shard 0 only, so one host reports
    /// each once; every host of a cluster reports the same number).
    pub offline_partitions: u64,
    /// Bytes of the logs of the partitions this shard leads.
    pub log_size_bytes: u64,
    /// (topic, partition, high watermark) of every partition led here: the
    /// other half of each group's lag, whichever shard coordinates it.
    pub high_watermarks: Vec<(String, i32, i64)>,
    /// (group, topic, partition, committed offset) of the groups
    /// coordinated here.
    pub committed_offsets: Vec<(String, String, i32, i64)>,
    /// Committed offsets left out of `committed_offsets` (past the bound).
    pub committed_offsets_omitted: u64,
}

/// Samples `shard`; call on its own core.
pub fn sample(shard: &Shard) -> ShardSample {
    let mut high_watermarks = Vec::new();
    let mut log_size_bytes = 0;
    shard.partitions.for_each(|partition| {
        // Followers' logs and high watermarks are their leaders' to report.
        if !partition.is_leader() {
            return;
        }
        log_size_bytes += partition.log().size_bytes();
        high_watermarks.push((
            partition.topic.clone(),
            partition.index,
            partition.high_watermark(),
        ));
    });
    let (committed_offsets, omitted) = shard
        .groups
        .committed_offsets(LAG_PARTITIONS_REPORTED_PER_SHARD_MAX);
    let (under_replicated_partitions, offline_partitions) = replica_health(shard);
    let plan = crate::rt::os_limits::plan();
    ShardSample {
        shard: shard.id,
        counters: registry::snapshot(),
        connections: shard.connections.count() as u64,
        connections_budget: crate::rt::os_limits::connections_per_shard_max() as u64,
        segment_files_open: crate::rt::file::descriptors_open() as u64,
        segment_files_budget: plan.map_or(
            crate::limits::SEGMENT_DESCRIPTORS_PER_SHARD_DEFAULT as u64,
            |plan| plan.segment_descriptors_per_shard as u64,
        ),
        tail_cache_bytes: shard.partitions.tail_cache().used_bytes(),
        tail_cache_budget_bytes: shard.config.tail_cache_bytes,
        partitions_led: high_watermarks.len() as u64,
        under_replicated_partitions,
        offline_partitions,
        log_size_bytes,
        high_watermarks,
        committed_offsets,
        committed_offsets_omitted: omitted as u64,
    }
}

/// (partitions led by this shard with fewer in-sync replicas than
/// replicas, partitions without a live leader) from the installed
/// metadata; the second only on shard 0.
fn replica_health(shard: &Shard) -> (u64, u64) {
    let snapshot = shard.metadata.snapshot();
    let (mut under_replicated, mut offline) = (0, 0);
    for topic in snapshot.topics.values() {
        for placement in &topic.placement {
            if placement.leader == shard.broker_id && placement.isr.len() < placement.replicas.len()
            {
                under_replicated += 1;
            }
            let leaderless = placement.leader == crate::metadata::NO_LEADER
                || !snapshot.broker_is_live(placement.leader);
            if shard.id == 0 && leaderless {
                offline += 1;
            }
        }
    }
    (under_replicated, offline)
}
