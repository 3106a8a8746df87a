//! DescribeLogDirs (key 35), v1-v4: the partitions this broker (shard)
//! keeps, each with its size on disk, under the one log directory (the
//! data dir); v4 adds the directory's filesystem size and usable space.
//! Admin clients (kafka-log-dirs.sh, `corelog topic describe`) ask every
//! broker and add the answers up, as with Kafka.
//!
//! Invariants: only partitions open on this shard are listed (a partition
//! asked for that lives elsewhere is left out, as Kafka leaves out replicas
//! a broker does not hold); corelog moves no replicas between
//! directories, so `is_future_key` is always false and `offset_lag` 0.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::shard::Shard;

pub const VERSIONS: RangeInclusive<i16> = 1..=4;

/// Kafka's "unknown" for v4's total and usable bytes.
const BYTES_UNKNOWN: i64 = -1;

pub async fn handle(
    context: &RequestContext,
    shard: &Shard,
    request: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    // None: every partition; Some: the (topic, partitions) asked for.
    let wanted: Option<BTreeMap<String, Vec<i32>>> = request.topics.map(|topics| {
        topics
            .into_iter()
            .map(|topic| (topic.topic.0.to_string(), topic.partitions))
            .collect()
    });
    let mut sizes: BTreeMap<String, Vec<(i32, i64)>> = BTreeMap::new();
    shard.partitions.for_each(|partition| {
        let asked = match &wanted {
            None => true,
            Some(wanted) => wanted
                .get(&partition.topic)
                .is_some_and(|indexes| indexes.contains(&partition.index)),
        };
        if asked {
            let size = partition.log().size_bytes() as i64;
            sizes
                .entry(partition.topic.clone())
                .or_default()
                .push((partition.index, size));
        }
    });
    let topics = sizes
        .into_iter()
        .map(|(name, mut partitions)| {
            partitions.sort_unstable();
            DescribeLogDirsTopic::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partitions(
                    partitions
                        .into_iter()
                        .map(|(index, size)| {
                            DescribeLogDirsPartition::default()
                                .with_partition_index(index)
                                .with_partition_size(size)
                        })
                        .collect(),
                )
        })
        .collect();
    let data_dir = &shard.config.data_dir;
    let mut result = DescribeLogDirsResult::default()
        .with_log_dir(StrBytes::from_string(data_dir.display().to_string()))
        .with_topics(topics)
        .with_total_bytes(BYTES_UNKNOWN)
        .with_usable_bytes(BYTES_UNKNOWN);
    if context.version >= 4 {
        if let Some(disk) = crate::metrics::http::disk(data_dir) {
            result.total_bytes = disk.size_bytes as i64;
            result.usable_bytes = disk.free_bytes as i64;
        }
    }
    DescribeLogDirsResponse::default().with_results(vec![result])
}
