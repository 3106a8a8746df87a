//! Offsets the tools read and write: partition leaders, ListOffsets
//! (earliest, latest, by time), and a group's committed offsets
//! (OffsetFetch, OffsetCommit).

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    BrokerId, ListOffsetsRequest, OffsetCommitRequest, OffsetFetchRequest,
};

use super::client::{group_id, text, topic_name, Cluster};
use super::{check, ToolError};

/// ListOffsets' special timestamps.
pub const LATEST: i64 = -1;
pub const EARLIEST: i64 = -2;

/// A (topic, partition) pair, ordered for printing.
pub type TopicPartition = (String, i32);

/// Each partition of `topic` with its leader, by partition.
pub fn leaders(cluster: &mut Cluster, topic: &str) -> Result<BTreeMap<i32, i32>, ToolError> {
    let metadata = cluster.metadata(Some(&[topic.to_string()]))?;
    let found = metadata
        .topics
        .iter()
        .find(|entry| {
            entry
                .name
                .as_ref()
                .is_some_and(|name| name.0.as_str() == topic)
        })
        .ok_or_else(|| ToolError::Usage(format!("topic {topic} is not in the metadata")))?;
    check(|| format!("topic {topic}"), found.error_code, None)?;
    Ok(found
        .partitions
        .iter()
        .map(|partition| (partition.partition_index, partition.leader_id.0))
        .collect())
}

/// The offset ListOffsets gives for `timestamp` on each of `partitions`
/// (partition -> leader): -1 where no record is at or after a time.
pub fn list_offsets(
    cluster: &mut Cluster,
    topic: &str,
    partitions: &BTreeMap<i32, i32>,
    timestamp: i64,
) -> Result<BTreeMap<i32, i64>, ToolError> {
    let mut by_leader: HashMap<i32, Vec<i32>> = HashMap::new();
    for (&partition, &leader) in partitions {
        by_leader.entry(leader).or_default().push(partition);
    }
    let mut offsets = BTreeMap::new();
    for (leader, partitions) in by_leader {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(0)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|&partition| {
                            ListOffsetsPartition::default()
                                .with_partition_index(partition)
                                .with_current_leader_epoch(-1)
                                .with_timestamp(timestamp)
                        })
                        .collect(),
                )]);
        let (_, response) = cluster.node(leader)?.send(&request, 7)?;
        for answer in response.topics.iter().flat_map(|topic| &topic.partitions) {
            check(
                || format!("ListOffsets {topic}-{}", answer.partition_index),
                answer.error_code,
                None,
            )?;
            offsets.insert(answer.partition_index, answer.offset);
        }
        if let Some(missing) = partitions.iter().find(|p| !offsets.contains_key(p)) {
            return Err(ToolError::Protocol {
                address: format!("node {leader}"),
                reason: format!("ListOffsets answered nothing for {topic}-{missing}"),
            });
        }
    }
    Ok(offsets)
}

/// The committed offsets of `group` (on its coordinator), every topic or
/// only `topic`: (topic, partition) -> offset, without partitions that have
/// none.
pub fn committed(
    cluster: &mut Cluster,
    coordinator: i32,
    group: &str,
    topic: Option<&str>,
) -> Result<BTreeMap<TopicPartition, i64>, ToolError> {
    let mut topics = None;
    if let Some(topic) = topic {
        let partitions = leaders(cluster, topic)?.into_keys().collect();
        topics = Some(vec![OffsetFetchRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partition_indexes(partitions)]);
    }
    let request = OffsetFetchRequest::default()
        .with_group_id(group_id(group))
        .with_topics(topics);
    // v7 at most: v8 and later ask for a list of groups.
    let (_, response) = cluster.node(coordinator)?.send(&request, 7)?;
    check(
        || format!("OffsetFetch for group {group}"),
        response.error_code,
        None,
    )?;
    let mut offsets = BTreeMap::new();
    for entry in &response.topics {
        for partition in &entry.partitions {
            check(
                || {
                    format!(
                        "OffsetFetch {}-{}",
                        entry.name.0.as_str(),
                        partition.partition_index
                    )
                },
                partition.error_code,
                None,
            )?;
            if partition.committed_offset >= 0 {
                let key = (entry.name.0.as_str().to_string(), partition.partition_index);
                offsets.insert(key, partition.committed_offset);
            }
        }
    }
    Ok(offsets)
}

/// Commits `offsets` for `group` as member `member_id` of `generation`
/// (-1 and "" for a group with no members, as an admin commit).
pub fn commit(
    cluster: &mut Cluster,
    coordinator: i32,
    group: &str,
    generation: i32,
    member_id: &str,
    offsets: &BTreeMap<TopicPartition, i64>,
) -> Result<(), ToolError> {
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for ((topic, partition), &offset) in offsets {
        topics.entry(topic.as_str()).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(*partition)
                .with_committed_offset(offset)
                .with_committed_leader_epoch(-1),
        );
    }
    let request = OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(text(member_id))
        .with_retention_time_ms(-1)
        .with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(topic_name(name))
                        .with_partitions(partitions)
                })
                .collect(),
        );
    // v8 at most: later versions name topics by id.
    let (_, response) = cluster.node(coordinator)?.send(&request, 8)?;
    for entry in &response.topics {
        for partition in &entry.partitions {
            check(
                || {
                    format!(
                        "OffsetCommit {}-{}",
                        entry.name.0.as_str(),
                        partition.partition_index
                    )
                },
                partition.error_code,
                None,
            )?;
        }
    }
    Ok(())
}
